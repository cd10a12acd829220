"""``forklift db migrate``: the source schema (demo/tests) and the warehouse schema from code."""

from __future__ import annotations

import asyncpg

from services import SERVICES, service_module
from shared.migrate import ensure_tables
from shared.mysql import connect_mysql, mysql_params, quote_mysql_ident
from shared.mysql_schema import ensure_mysql_tables
from shared.schema import Table
from shared.source import source_dialect
from shared.source_schema import SOURCE_TABLES, SYNCED_TABLES

__all__ = ["warehouse_tables", "migrate_source", "migrate_warehouse"]


def warehouse_tables() -> list[Table]:
    """Every warehouse table: empty copies of the synced source tables, then each service's."""
    tables = list(SYNCED_TABLES)
    for service in SERVICES:
        tables.extend(service_module(service, "schema").WAREHOUSE_TABLES)
    return tables


async def _create_mysql_database(dsn: str) -> None:
    database = mysql_params(dsn).database
    server = dsn.split("?", 1)[0].rsplit("/", 1)[0] + "/"
    conn = await connect_mysql(server, database_required=False)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS {quote_mysql_ident(database)} CHARACTER SET utf8mb4"
            )
    finally:
        conn.close()


async def migrate_source(dsn: str, *, create_database: bool = False) -> list[str]:
    """Create/update the source application tables (for the demo and tests) in a Postgres
    or MySQL source; ``create_database``: create a missing MySQL database first."""
    if source_dialect(dsn) == "mysql":
        if create_database:
            await _create_mysql_database(dsn)
        conn = await connect_mysql(dsn)
        try:
            return await ensure_mysql_tables(conn, SOURCE_TABLES)
        finally:
            conn.close()
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
