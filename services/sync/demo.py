"""The sync service in ``forklift demo``: its worker (which syncs every table at start-up),
the bucket it writes to, and the check that every synced table equals the source."""

from __future__ import annotations

from services.sync.dialects import checksum_sql
from services.sync.s3 import ensure_bucket
from services.sync.settings import SyncSettings
from shared.aws import aws_client
from shared.demo import CheckResult, DemoContext
from shared.settings import load_settings

PROCESSES: tuple[tuple[str, ...], ...] = (("worker", "sync"),)


async def seed(demo: DemoContext) -> None:
    """Create the sync bucket on the demo's S3."""
    settings = load_settings(SyncSettings)
    async with aws_client(demo.aws, "s3") as s3:
        await ensure_bucket(s3, settings.bucket)


async def check(demo: DemoContext) -> CheckResult:
    """OK when every configured table's row count and checksum in the warehouse equal the
    source's."""
    settings = load_settings(SyncSettings)
    behind = []
    rows = 0
    for table in settings.tables:
        columns = await demo.source.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        sql = checksum_sql("postgres", table, [c["column_name"] for c in columns])
        source, warehouse = await demo.source.fetchrow(sql), await demo.warehouse.fetchrow(sql)
        if tuple(source) != tuple(warehouse):
            behind.append(f"{table} {warehouse['rows']}/{source['rows']} rows")
        rows += warehouse["rows"]
    if behind:
        return CheckResult("sync", ok=False, produced=rows, detail="behind: " + ", ".join(behind))
    return CheckResult(
        "sync", ok=True, produced=rows, detail=f"{len(settings.tables)} tables equal to source"
    )
