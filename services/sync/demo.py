"""The sync service in ``forklift demo``: its worker (which syncs every table at start-up),
the bucket it writes to, and the check that every synced table equals the source."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.sync.dialects import checksum_sql
from services.sync.s3 import ensure_bucket
from services.sync.settings import SyncSettings
from shared.aws import aws_client
from shared.db import quote_ident
from shared.demo import CheckResult, DemoContext
from shared.mysql import quote_mysql_ident
from shared.settings import load_settings

PROCESSES: tuple[tuple[str, ...], ...] = (("worker", "sync"),)

_MYSQL_COLUMNS_SQL = (
    "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS"
    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = $1 ORDER BY ORDINAL_POSITION"
)
_POSTGRES_COLUMNS_SQL = (
    "SELECT column_name AS name FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
)


async def seed(demo: DemoContext) -> None:
    """Create the sync bucket on the demo's S3."""
    settings = load_settings(SyncSettings)
    async with aws_client(demo.aws, "s3") as s3:
        await ensure_bucket(s3, settings.bucket)


def _normal(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:  # MySQL DATETIME holds UTC
        return value.replace(tzinfo=UTC)
    return value


def _digest(rows: list[Any], columns: list[str]) -> int:
    """An order-independent digest of rows (equal values hash equally in one process)."""
    return sum(hash(tuple(_normal(row[c]) for c in columns)) for row in rows) % 2**64


async def _states(demo: DemoContext, table: str) -> tuple[tuple, tuple]:
    """(rows, checksum) of ``table`` in the source and in the warehouse."""
    if demo.source.dialect == "postgres":
        columns = [r["name"] for r in await demo.source.fetch(_POSTGRES_COLUMNS_SQL, table)]
        sql = checksum_sql("postgres", table, columns)
        source, warehouse = await demo.source.fetch(sql), await demo.warehouse.fetch(sql)
        return tuple(source[0].values()), tuple(warehouse[0])
    # MySQL: counts first; the rows themselves, compared in Python, once the counts agree.
    columns = [r["name"] for r in await demo.source.fetch(_MYSQL_COLUMNS_SQL, table)]
    count = await demo.source.fetchval(f"SELECT count(*) FROM {quote_mysql_ident(table)}")  # noqa: S608
    copied = await demo.warehouse.fetchval(f"SELECT count(*) FROM {quote_ident(table)}")  # noqa: S608
    if count != copied:
        return (count, None), (copied, None)
    names = ", ".join(quote_mysql_ident(c) for c in columns)
    source_rows = await demo.source.fetch(f"SELECT {names} FROM {quote_mysql_ident(table)}")  # noqa: S608
    names = ", ".join(quote_ident(c) for c in columns)
    warehouse_rows = await demo.warehouse.fetch(f"SELECT {names} FROM {quote_ident(table)}")  # noqa: S608
    return (count, _digest(source_rows, columns)), (copied, _digest(warehouse_rows, columns))


async def check(demo: DemoContext) -> CheckResult:
    """OK when every configured table's row count and checksum in the warehouse equal the
    source's."""
    settings = load_settings(SyncSettings)
    behind = []
    rows = 0
    for table in settings.tables:
        source, warehouse = await _states(demo, table)
        if source != warehouse:
            behind.append(f"{table} {warehouse[0]}/{source[0]} rows")
        rows += warehouse[0]
    if behind:
        return CheckResult("sync", ok=False, produced=rows, detail="behind: " + ", ".join(behind))
    return CheckResult(
        "sync", ok=True, produced=rows, detail=f"{len(settings.tables)} tables equal to source"
    )
