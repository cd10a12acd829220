"""The aggregator in ``forklift demo``: its worker, fed by sync's outbox (every hour a sync
changes), and the check that the loaded facts equal a fresh recomputation for a sample of
demo hours."""

from __future__ import annotations

from datetime import datetime

from services.aggregator.hours import HOUR
from services.aggregator.verify import verify_table
from shared.db import quote_ident
from shared.demo import CheckResult, DemoContext
from shared.facts import FACT_TABLES

PROCESSES: tuple[tuple[str, ...], ...] = (("worker", "aggregator"),)


async def seed(demo: DemoContext) -> None:
    """Nothing to seed: the raw tables come from sync, which queues the hours it loads."""


async def _sample_hours(demo: DemoContext) -> list[datetime]:
    """The oldest, a middle and the newest complete hour of the warehouse's events."""
    rows = await demo.warehouse.fetch(
        "SELECT DISTINCT date_trunc('hour', created) AS hour FROM events"
        " WHERE created < date_trunc('hour', now()) ORDER BY 1"
    )
    hours = [r["hour"] for r in rows]
    return sorted({hours[0], hours[len(hours) // 2], hours[-1]}) if hours else []


async def _mismatches(demo: DemoContext, hour: datetime) -> list[str]:
    bad = []
    for table in FACT_TABLES:
        difference = await verify_table(demo.warehouse, table, hour, hour + HOUR)
        if difference.differing:
            bad.append(f"{table.slug}@{hour:%Y-%m-%dT%H} {difference.differing} differing rows")
    return bad


async def check(demo: DemoContext) -> CheckResult:
    """OK when sampled demo hours' fact rows exist and equal a recomputation from events."""
    hours = await _sample_hours(demo)
    produced = 0
    for table in FACT_TABLES:
        produced += await demo.warehouse.fetchval(f"SELECT count(*) FROM {quote_ident(table.name)}")  # noqa: S608
    if not hours:
        return CheckResult("aggregator", ok=False, produced=produced, detail="no events synced yet")
    bad = [m for hour in hours for m in await _mismatches(demo, hour)]
    if bad or produced == 0:
        return CheckResult(
            "aggregator", ok=False, produced=produced, detail="behind: " + ", ".join(bad)
        )
    return CheckResult(
        "aggregator",
        ok=True,
        produced=produced,
        detail=f"{len(hours)} sampled hours x {len(FACT_TABLES)} tables equal a recomputation",
    )
