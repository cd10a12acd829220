"""Reading a MySQL/MariaDB table's columns and primary key from ``information_schema``."""

from __future__ import annotations

import re
from typing import Any

from asyncmy.errors import MySQLError

from services.sync.catalog import ColumnInfo, TableInfo

__all__ = ["read_mysql_table"]

_COLUMNS_SQL = """
SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION
"""
_PRIMARY_KEY_SQL = """
SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY'
ORDER BY SEQ_IN_INDEX
"""
# MariaDB's JSON is LONGTEXT with a json_valid() check (MySQL has a json type).
_CHECKS_SQL = """
SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s
"""
_JSON_CHECK = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.IGNORECASE)


async def _json_columns(cursor: Any, table: str) -> set[str]:
    try:
        await cursor.execute(_CHECKS_SQL, (table,))
    except MySQLError:  # MySQL's CHECK_CONSTRAINTS has no TABLE_NAME; its JSON is json
        return set()
    names: set[str] = set()
    for (clause,) in await cursor.fetchall():
        match = _JSON_CHECK.fullmatch(clause.strip())
        if match:
            names.add(match[1].replace("``", "`"))
    return names


def _as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read_mysql_table(pool: Any, table: str) -> TableInfo | None:
    """``table`` in the connection's database, or None when it does not exist. A column's
    ``source_type`` is its ``COLUMN_TYPE`` (``json`` for MariaDB JSON columns)."""
    async with pool.acquire() as conn, conn.cursor() as cursor:
        await cursor.execute(_COLUMNS_SQL, (table,))
        rows = await cursor.fetchall()
        if not rows:
            return None
        await cursor.execute(_PRIMARY_KEY_SQL, (table,))
        key = tuple(_as_text(r[0]) for r in await cursor.fetchall())
        json_columns = await _json_columns(cursor, table)
    columns = []
    for name, column_type, nullable in rows:
        name, column_type = _as_text(name), _as_text(column_type)
        if name in json_columns and column_type.lower() == "longtext":
            column_type = "json"
        columns.append(ColumnInfo(name, column_type, _as_text(nullable) == "NO"))
    return TableInfo(name=table, columns=tuple(columns), primary_key=key)
