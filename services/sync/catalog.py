"""Reading a table's columns and primary key from a Postgres catalog (source or warehouse);
the shapes every source dialect's catalog reader returns."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared.db import quote_ident

__all__ = ["ColumnInfo", "TableInfo", "read_table"]


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the catalog describes it: ``source_type`` is Postgres ``format_type``
    text, or MySQL ``COLUMN_TYPE`` text."""

    name: str
    source_type: str
    not_null: bool


@dataclass(frozen=True)
class TableInfo:
    """A table's columns in order and its primary key."""

    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


_COLUMNS_SQL = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS source_type,
       a.attnotnull AS not_null
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PRIMARY_KEY_SQL = """
SELECT a.attname AS name
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""


async def read_table(conn: asyncpg.Connection, table: str) -> TableInfo | None:
    """``table`` in the connection's current schema, or None when it does not exist."""
    regclass = quote_ident(table)
    rows = await conn.fetch(_COLUMNS_SQL, regclass)
    if not rows:
        return None
    key = await conn.fetch(_PRIMARY_KEY_SQL, regclass)
    return TableInfo(
        name=table,
        columns=tuple(ColumnInfo(r["name"], r["source_type"], r["not_null"]) for r in rows),
        primary_key=tuple(r["name"] for r in key),
    )
