"""Apply table definitions to a database idempotently: create, add columns, add indexes."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.logging import get_logger
from shared.schema import Table

__all__ = ["ensure_tables"]

log = get_logger("forklift.migrate")

# One migration at a time per database, whoever runs it.
_MIGRATION_LOCK_KEY = 0x0F0F_2026


async def _existing_columns(conn: asyncpg.Connection, table: str) -> set[str] | None:
    if await conn.fetchval("SELECT to_regclass($1::text)", f'"{table}"') is None:
        return None
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {r["column_name"] for r in rows}


async def _existing_indexes(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1",
        table,
    )
    return {r["indexname"] for r in rows}


async def ensure_tables(conn: asyncpg.Connection, tables: Sequence[Table]) -> list[str]:
    """Bring ``tables`` up to their definitions in one transaction; return what changed
    (an empty list when the database already matched)."""
    changes: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
        for table in tables:
            columns = await _existing_columns(conn, table.name)
            if columns is None:
                await conn.execute(table.create_sql())
                changes.append(f"created table {table.name}")
            else:
                for column in table.columns:
                    if column.name not in columns:
                        await conn.execute(table.add_column_sql(column))
                        changes.append(f"added column {table.name}.{column.name}")
            indexes = await _existing_indexes(conn, table.name)
            for index, sql in zip(table.indexes, table.index_sql(), strict=True):
                if table.index_name(index) not in indexes:
                    await conn.execute(sql)
                    changes.append(f"created index {table.index_name(index)}")
    for change in changes:
        log.debug("migrate.change", change=change)
    return changes
