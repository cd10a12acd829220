"""``forklift worker aggregator``: ``aggregate_range`` jobs, the sync outbox drained on
sync's ``drain_outbox`` message and every minute, and a cron re-queueing the previous and
current hour every 5 minutes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from arq.worker import Retry, func

from services.aggregator.errors import AggregateError
from services.aggregator.hours import HOUR, batches, floor_hour, parse_hour
from services.aggregator.runner import HourLocked, drain_outbox, enqueue_ranges, load_range
from services.aggregator.settings import AggregatorSettings
from shared.db import create_pool
from shared.errors import describe
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
async def aggregate_range(ctx: dict[str, Any], table_slug: str, start: str, end: str) -> dict:
    """Load the hours [start, end) of one fact table; retried with backoff while an
    overlapping load holds the hours or on a database error."""
    settings: AggregatorSettings = ctx["settings"]
    table, first, last = fact_table(table_slug), parse_hour(start), parse_hour(end)
    job_try = ctx.get("job_try", 1)
    try:
        rows = await load_range(
            ctx["warehouse"], table, first, last, settings.lock_wait_s, settings.work_mem_mb
        )
    except (HourLocked, *TRANSIENT) as e:
        if job_try >= MAX_TRIES:
            raise AggregateError(
                f"{table.name} {start}..{end}: gave up after {job_try} tries: {e}"
            ) from e
        delay_s = retry_delay_s(settings, job_try)
        log.warning(
            "aggregate.range.retry",
            table=table.name,
            start=start,
            end=end,
            delay_s=delay_s,
            error=describe(e),
        )
        raise Retry(defer=delay_s) from e
    await ctx["heartbeat"].count("rows", rows)
    return {"table": table.name, "start": first.isoformat(), "end": last.isoformat(), "rows": rows}


@job
async def drain_outbox_job(ctx: dict[str, Any], source: str = "cron") -> dict:
    """Queue loads for the (fact table, hour) pairs sync left in the outbox."""
    settings: AggregatorSettings = ctx["settings"]
    pending, queued = await drain_outbox(ctx["warehouse"], ctx["redis"], settings.batch_hours)
    return {"source": source, "pending": pending, "queued": queued}


@job
async def requeue_recent(ctx: dict[str, Any]) -> dict:
    """Queue the previous and the current hour for every fact table."""
    current = floor_hour(datetime.now(UTC))
    settings: AggregatorSettings = ctx["settings"]
    ranges = batches([current - HOUR, current], settings.batch_hours)
    return {"queued": await enqueue_ranges(ctx["redis"], FACT_TABLES, ranges)}


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
    # keep_result=0: a range that already ran can be queued again at once.
    functions = [
        func(aggregate_range, name="aggregate_range", keep_result=0),
        func(drain_outbox_job, name="drain_outbox", keep_result=0),
    ]
    cron_jobs = [
        every_minutes(requeue_recent, 5, run_at_startup=True, name="requeue_recent"),
        # Delivers what a sync committed but could not announce (e.g. killed right after).
        every_minutes(drain_outbox_job, 1, run_at_startup=True, name="drain_outbox_cron"),
    ]
    on_startup = on_startup
    max_jobs = 4
    # arq starts jobs only when it polls: a short poll keeps a backfill's ~150 jobs per 30
    # days back to back (an idle worker backs off to shared.worker.IDLE_POLL_S).
    poll_delay_s = 0.02
    max_tries = MAX_TRIES
