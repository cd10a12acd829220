"""``forklift worker aggregator``: ``aggregate_hour`` jobs, sync's ``requeue_hours`` late-data
messages, and a cron re-queueing the previous and current hour every 5 minutes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from arq.worker import Retry, func

from services.aggregator.errors import AggregateError
from services.aggregator.hours import HOUR, floor_hour, parse_hour
from services.aggregator.runner import HourLocked, enqueue_hours, locked_load
from services.aggregator.settings import AggregatorSettings
from shared.db import create_pool
from shared.facts import FACT_TABLES, fact_table
from shared.logging import get_logger
from shared.queues import every_minutes
from shared.worker import job

__all__ = ["WorkerSettings", "MAX_TRIES"]

log = get_logger("forklift.aggregator")
MAX_TRIES = 5
TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.DeadlockDetectedError,
    asyncpg.QueryCanceledError,
    asyncpg.TooManyConnectionsError,
    OSError,
    TimeoutError,
)


def retry_delay_s(settings: AggregatorSettings, job_try: int) -> float:
    """Exponential backoff: base, 2*base, 4*base, ..."""
    return settings.retry_base_s * 2 ** max(0, job_try - 1)


@job
async def aggregate_hour(ctx: dict[str, Any], table_slug: str, hour: str) -> dict:
    """Load one (fact table, hour); retried with backoff on a held lock or a database error."""
    settings: AggregatorSettings = ctx["settings"]
    table, start = fact_table(table_slug), parse_hour(hour)
    job_try = ctx.get("job_try", 1)
    try:
        rows = await locked_load(ctx["warehouse"], ctx["redis"], table, start, settings.lock_ttl_s)
    except (HourLocked, *TRANSIENT) as e:
        if job_try >= MAX_TRIES:
            raise AggregateError(f"{table.name} {hour}: gave up after {job_try} tries: {e}") from e
        delay_s = retry_delay_s(settings, job_try)
        log.warning(
            "aggregate.hour.retry", table=table.name, hour=hour, delay_s=delay_s, error=str(e)
        )
        raise Retry(defer=delay_s) from e
    await ctx["heartbeat"].count("rows", rows)
    return {"table": table.name, "hour": start.isoformat(), "rows": rows}


@job
async def requeue_hours(ctx: dict[str, Any], hours: list[str], source: str) -> dict:
    """Late data (e.g. from ``sync:events``): queue every fact table for each of ``hours``."""
    parsed = sorted({parse_hour(h) for h in hours})
    queued = await enqueue_hours(ctx["redis"], FACT_TABLES, parsed)
    log.info("aggregate.requeue", source=source, hours=len(parsed), queued=queued)
    return {"source": source, "hours": len(parsed), "queued": queued}


@job
async def requeue_recent(ctx: dict[str, Any]) -> dict:
    """Queue the previous and the current hour for every fact table."""
    current = floor_hour(datetime.now(UTC))
    queued = await enqueue_hours(ctx["redis"], FACT_TABLES, [current - HOUR, current])
    return {"queued": queued}


async def on_startup(ctx: dict[str, Any]) -> None:
    core = ctx["core"]
    core.require("warehouse_dsn")
    ctx["warehouse"] = await create_pool(
        core.warehouse_dsn,
        name="warehouse",
        max_size=core.db_pool_max_size,
        command_timeout_s=core.db_command_timeout_s,
    )
    ctx["exit_stack"].push_async_callback(ctx["warehouse"].close)


class WorkerSettings:
    service = "aggregator"
    settings_cls = AggregatorSettings
    # keep_result=0: an hour that already ran can be re-queued at once by late data.
    functions = [
        func(aggregate_hour, name="aggregate_hour", keep_result=0),
        func(requeue_hours, name="requeue_hours", keep_result=0),
    ]
    cron_jobs = [every_minutes(requeue_recent, 5, run_at_startup=True, name="requeue_recent")]
    on_startup = on_startup
    max_jobs = 4
    poll_delay_s = 0.02  # a backfill is thousands of ~10 ms jobs
    max_tries = MAX_TRIES
