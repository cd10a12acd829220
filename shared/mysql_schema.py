"""The source table definitions (``shared.source_schema``) as MySQL/MariaDB DDL, applied
idempotently: create missing tables, add missing columns and indexes. For a MySQL source
in the demo and tests; a real source database belongs to its application.

Types are translated the way Django lays these tables out on MySQL: ``timestamptz`` ->
``datetime(6)`` holding UTC, ``boolean`` -> ``tinyint(1)``, text -> ``longtext``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shared.logging import get_logger
from shared.mysql import quote_mysql_ident
from shared.schema import Column, Table

__all__ = [
    "mysql_type",
    "mysql_create_sql",
    "mysql_add_column_sql",
    "mysql_index_sql",
    "ensure_mysql_tables",
]

log = get_logger("forklift.migrate")

_TYPES = {
    "bigint": "bigint",
    "integer": "int",
    "smallint": "smallint",
    "boolean": "tinyint(1)",
    "text": "longtext",
    "timestamptz": "datetime(6)",
    "date": "date",
    "double precision": "double",
}
_DEFAULTS = {"now()": "CURRENT_TIMESTAMP(6)", "false": "0", "true": "1"}
_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
_LOCK_NAME = "forklift_migrate"
_LOCK_WAIT_S = 60


def mysql_type(pg_type: str) -> str:
    """The MySQL type for one of our definitions' types (KeyError for one we never use)."""
    if _VARCHAR.match(pg_type):
        return pg_type
    return _TYPES[pg_type]


def _definition(column: Column) -> str:
    sql = f"{quote_mysql_ident(column.name)} {mysql_type(column.type)}"
    if not column.nullable:
        sql += " NOT NULL"
    if column.default is not None:
        sql += f" DEFAULT {_DEFAULTS[column.default]}"
    return sql


def mysql_create_sql(table: Table) -> str:
    parts = [_definition(c) for c in table.columns]
    if table.primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(map(quote_mysql_ident, table.primary_key))})")
    body = ",\n    ".join(parts)
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_mysql_ident(table.name)} (\n    {body}\n)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )


def mysql_add_column_sql(table: Table, column: Column) -> str:
    return f"ALTER TABLE {quote_mysql_ident(table.name)} ADD COLUMN {_definition(column)}"


def mysql_index_sql(table: Table) -> list[tuple[str, str]]:
    """``(index name, CREATE INDEX statement)`` for each of ``table``'s indexes."""
    return [
        (
            table.index_name(index),
            f"CREATE {'UNIQUE ' if index.unique else ''}INDEX "
            f"{quote_mysql_ident(table.index_name(index))} ON {quote_mysql_ident(table.name)} "
            f"({', '.join(map(quote_mysql_ident, index.columns))})",
        )
        for index in table.indexes
    ]


async def _names(cursor: Any, sql: str, table: str) -> set[str]:
    await cursor.execute(sql, (table,))
    return {row[0] for row in await cursor.fetchall()}


async def ensure_mysql_tables(conn: Any, tables: Sequence[Table]) -> list[str]:
    """Bring ``tables`` up to their definitions in the connection's database (one migration
    at a time, by a named lock); return what changed."""
    changes: list[str] = []
    async with conn.cursor() as cursor:
        await cursor.execute("SELECT GET_LOCK(%s, %s)", (_LOCK_NAME, _LOCK_WAIT_S))
        if (await cursor.fetchone())[0] != 1:
            raise TimeoutError(f"another migration held {_LOCK_NAME} for {_LOCK_WAIT_S}s")
        try:
            for table in tables:
                columns = await _names(
                    cursor,
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS"
                    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                    table.name,
                )
                if not columns:
                    await cursor.execute(mysql_create_sql(table))
                    changes.append(f"created table {table.name}")
                for column in table.columns:
                    if columns and column.name not in columns:
                        await cursor.execute(mysql_add_column_sql(table, column))
                        changes.append(f"added column {table.name}.{column.name}")
                indexes = await _names(
                    cursor,
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS"
                    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                    table.name,
                )
                for name, sql in mysql_index_sql(table):
                    if name not in indexes:
                        await cursor.execute(sql)
                        changes.append(f"created index {name}")
        finally:
            await cursor.execute("SELECT RELEASE_LOCK(%s)", (_LOCK_NAME,))
    for change in changes:
        log.debug("migrate.change", change=change)
    return changes
