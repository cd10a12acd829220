"""``forklift db migrate``: the source schema (demo/tests) and the warehouse schema from code."""

from __future__ import annotations

import asyncpg

from services import SERVICES, service_module
from shared.migrate import ensure_tables
from shared.schema import Table
from shared.source_schema import SOURCE_TABLES, SYNCED_TABLES

__all__ = ["warehouse_tables", "migrate_source", "migrate_warehouse"]


def warehouse_tables() -> list[Table]:
    """Every warehouse table: empty copies of the synced source tables, then each service's."""
    tables = list(SYNCED_TABLES)
    for service in SERVICES:
        tables.extend(service_module(service, "schema").WAREHOUSE_TABLES)
    return tables


async def migrate_source(dsn: str) -> list[str]:
    """Create/update the source application tables (for the demo and tests)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await ensure_tables(conn, SOURCE_TABLES)
    finally:
        await conn.close()


async def migrate_warehouse(dsn: str) -> list[str]:
    """Create/update every warehouse table."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await ensure_tables(conn, warehouse_tables())
    finally:
        await conn.close()
