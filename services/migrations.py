"""``forklift db migrate``: the source schema (demo/tests) and the warehouse schema from code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg

from services import SERVICES, service_module
from shared.db import DatabaseUnavailable
from shared.errors import describe
from shared.migrate import ensure_tables
from shared.mysql import connect_mysql, mysql_params, quote_mysql_ident
from shared.mysql_schema import ensure_mysql_tables
from shared.schema import Table
from shared.source import source_dialect
from shared.source_schema import SOURCE_TABLES, SYNCED_TABLES

__all__ = ["warehouse_tables", "migrate_source", "migrate_warehouse", "migrate_waiting"]

_UNREACHABLE = (DatabaseUnavailable, OSError, TimeoutError, asyncpg.CannotConnectNowError)
_RETRY_EVERY_S = 2.0


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


async def migrate_waiting(
    source_dsn: str | None,
    warehouse_dsn: str,
    wait_s: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> list[str]:
    """Migrate the source (when ``source_dsn``) and the warehouse, retrying for up to
    ``wait_s`` while a database is unreachable (servers still starting, as under compose);
    DatabaseUnavailable once that time is up."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            changes = await migrate_source(source_dsn) if source_dsn else []
            return changes + await migrate_warehouse(warehouse_dsn)
        except _UNREACHABLE as e:
            if time.monotonic() >= deadline:
                if isinstance(e, DatabaseUnavailable):
                    raise
                raise DatabaseUnavailable(f"database unreachable: {describe(e)}") from e
            if on_wait is not None:
                on_wait(f"waiting for the databases: {e}")
            await asyncio.sleep(_RETRY_EVERY_S)
