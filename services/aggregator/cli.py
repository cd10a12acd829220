"""``forklift aggregate``: queue or run fact loads, verify stored facts, show the status and
the definition."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import click
from arq.constants import job_key_prefix
from tqdm import tqdm

from services.aggregator.describe import describe_text
from services.aggregator.errors import BadRequest
from services.aggregator.hours import (
    HOUR,
    batches,
    job_id,
    parse_bound,
    parse_date,
    parse_hour,
    plan_hours,
    tables,
)
from services.aggregator.rollups import DAY, day_span, rebuild_rollups
from services.aggregator.runner import Range, enqueue_ranges, latest_hours, load_range, outbox_depth
from services.aggregator.settings import AggregatorSettings
from services.aggregator.verify import verify_table
from shared.cli import core_settings, run_async
from shared.db import create_pool
from shared.facts import FactTable
from shared.heartbeat import read_service_status
from shared.queues import ArqRedis, connect_queue, queue_depth
from shared.settings import CoreSettings, load_settings

__all__ = ["group"]

_WAIT_POLL_S = 1.0


@click.group(
    name="aggregate",
    help="Hourly fact tables computed from raw events, defined in code.\n\n"
    "Examples:\n\n"
    "  forklift aggregate queue --days-back 3\n\n"
    "  forklift aggregate hour 2026-11-20T14\n\n"
    "  forklift aggregate verify --start 2026-11-01 --end 2026-11-08\n\n"
    "  forklift aggregate status\n\n"
    "  forklift aggregate rollups --rebuild",
)
def group() -> None:
    pass


async def _run_inline(
    core: CoreSettings,
    settings: AggregatorSettings,
    chosen: Sequence[FactTable],
    ranges: Sequence[Range],
    progress: bool,
) -> dict[str, int]:
    """Load every (table, range) in-process, ``inline_concurrency`` at a time."""
    core.require("warehouse_dsn")
    rows = {t.name: 0 for t in chosen}
    limit = asyncio.Semaphore(settings.inline_concurrency)
    pool = await create_pool(
        core.warehouse_dsn or "", name="warehouse", max_size=settings.inline_concurrency
    )
    hours = sum((end - start) // HOUR for start, end in ranges) * len(chosen)
    bar = tqdm(total=hours, unit="hour", disable=not progress)

    async def one(table: FactTable, start: datetime, end: datetime) -> None:
        async with limit:
            count = await load_range(
                pool, table, start, end, settings.lock_wait_s, settings.work_mem_mb
            )
            rows[table.name] += count  # after the await: no lost update between loads
            bar.update((end - start) // HOUR)

    try:
        await asyncio.gather(*(one(t, *r) for r in ranges for t in chosen))
    finally:
        bar.close()
        await pool.close()
    return rows


async def _wait(redis: ArqRedis, ids: Sequence[str]) -> None:
    """A progress bar of the queued jobs until the worker has run them all."""
    keys = [job_key_prefix + i for i in ids]
    with tqdm(total=len(keys), unit="job") as bar:
        while keys:
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.exists(key)
                waiting = await pipe.execute()
            keys = [k for k, left in zip(keys, waiting, strict=True) if left]
            bar.update(len(ids) - len(keys) - bar.n)
            if keys:
                await asyncio.sleep(_WAIT_POLL_S)


@group.command(
    name="queue",
    help="Queue loads for the aggregator worker (default: the previous and the current hour, "
    "all tables), in batches of FORKLIFT_AGGREGATOR_BATCH_HOURS (24: one job per table and "
    "UTC day). Dates are UTC, --end-date is exclusive.\n\n"
    "Examples:\n\n"
    "  forklift aggregate queue --days-back 3\n\n"
    "  forklift aggregate queue --start-date 2026-11-01 --end-date 2026-11-08 --table visit\n\n"
    "  forklift aggregate queue --days-back 30 --wait\n\n"
    "  forklift aggregate queue --days-back 7 --inline",
)
@click.option("--days-back", type=int, default=None, help="The last N*24 hours.")
@click.option("--start-date", default=None, help="First day (YYYY-MM-DD, UTC).")
@click.option("--end-date", default=None, help="Day after the last (exclusive).")
@click.option("--table", "table_slug", default=None, help="One fact table (slug), e.g. visit.")
@click.option("--inline", is_flag=True, help="Run the loads here, with a progress bar.")
@click.option("--wait", is_flag=True, help="After queueing, show the worker's progress.")
def queue_command(
    days_back: int | None,
    start_date: str | None,
    end_date: str | None,
    table_slug: str | None,
    inline: bool,
    wait: bool,
) -> int:
    start = parse_date(start_date, "--start-date") if start_date else None
    end = parse_date(end_date, "--end-date") if end_date else None
    hours = plan_hours(datetime.now(UTC), days_back, start, end)
    chosen = tables(table_slug)
    if inline and wait:
        raise BadRequest("--inline and --wait cannot be combined (--inline shows progress)")
    settings = load_settings(AggregatorSettings)
    ranges = batches(hours, settings.batch_hours)
    core = core_settings()
    shape = f"{len(hours)} hours in {len(ranges)} batches x {len(chosen)} tables"
    if inline:
        rows = run_async(_run_inline(core, settings, chosen, ranges, progress=True))
        click.echo(f"loaded {shape}, {sum(rows.values())} rows")
        return 0
    core.require("redis_url")

    async def _queue() -> int:
        redis = await connect_queue(core.redis_url or "")
        try:
            queued = await enqueue_ranges(redis, chosen, ranges)
            click.echo(f"queued {queued} jobs ({shape})")
            if wait:
                await _wait(redis, [job_id(t, *r) for r in ranges for t in chosen])
            return queued
        finally:
            await redis.aclose()

    run_async(_queue())
    return 0


@group.command(
    name="hour",
    help="Load one hour now (in-process) and print the rows written per table.\n\n"
    "Example: forklift aggregate hour 2026-11-20T14 --table visit",
)
@click.argument("hour")
@click.option("--table", "table_slug", default=None, help="One fact table (slug), e.g. visit.")
def hour_command(hour: str, table_slug: str | None) -> int:
    start, chosen = parse_hour(hour), tables(table_slug)
    settings = load_settings(AggregatorSettings)
    ranges = [(start, start + HOUR)]
    rows = run_async(_run_inline(core_settings(), settings, chosen, ranges, progress=False))
    for name, count in rows.items():
        click.echo(f"{name} {start:%Y-%m-%dT%H} rows={count}")
    return 0


@group.command(
    name="verify",
    help="Recompute [--start, --end) of every fact table from the raw tables into temporary "
    "tables and print, per table, how many stored rows differ (missing, extra or with other "
    "facts). Exits 1 when any differ. Bounds: YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH.\n\n"
    "Example: forklift aggregate verify --start 2026-11-01 --end 2026-11-08",
)
@click.option("--start", "start_text", required=True, help="First hour or day (UTC).")
@click.option("--end", "end_text", required=True, help="End, exclusive (UTC).")
@click.option("--table", "table_slug", default=None, help="One fact table (slug), e.g. visit.")
def verify_command(start_text: str, end_text: str, table_slug: str | None) -> int:
    start, end = parse_bound(start_text, "--start"), parse_bound(end_text, "--end")
    if end <= start:
        raise BadRequest(f"--end {end_text} must be after --start {start_text}")
    chosen = tables(table_slug)
    settings = load_settings(AggregatorSettings)
    core = core_settings()
    core.require("warehouse_dsn")

    async def _verify() -> int:
        pool = await create_pool(core.warehouse_dsn or "", name="warehouse", max_size=1)
        differing = 0
        try:
            for table in chosen:
                difference = await verify_table(pool, table, start, end, settings.work_mem_mb)
                click.echo(difference.line())
                differing += difference.differing
        finally:
            await pool.close()
        return differing

    differing = run_async(_verify())
    span = f"[{start:%Y-%m-%dT%H}, {end:%Y-%m-%dT%H})"
    click.echo(f"{'OK' if not differing else 'DIFFERENT'}: {differing} differing rows in {span}")
    return 1 if differing else 0


@group.command(
    name="status",
    help="Latest loaded hour and rows per fact table, queued jobs, hours waiting in the sync "
    "outbox, the worker's failures.\n\n"
    "Example: forklift aggregate status",
)
def status_command() -> int:
    core = core_settings()
    core.require("warehouse_dsn", "redis_url")

    async def _status() -> list[str]:
        pool = await create_pool(core.warehouse_dsn or "", name="warehouse", max_size=2)
        redis = await connect_queue(core.redis_url or "")
        try:
            latest = await latest_hours(pool)
            outbox = await outbox_depth(pool)
            depth = await queue_depth(redis, "aggregator")
            [worker] = await read_service_status(redis, ["aggregator"])
        finally:
            await redis.aclose()
            await pool.close()
        lines = [
            f"{name} latest={hour.isoformat() if hour else '-'} rows={n}"
            for name, hour, n in latest
        ]
        lines.append(
            f"queued={depth} outbox={outbox} worker_alive={worker.alive}"
            f" ok={worker.jobs_ok} failed={worker.jobs_failed}"
        )
        if worker.last_error:
            lines.append(f"last_error={worker.last_error}")
        return lines

    for line in run_async(_status()):
        click.echo(line)
    return 0


@group.command(
    name="describe",
    help="Print the warehouse definition: fact tables, dimensions, facts.\n\n"
    "Example: forklift aggregate describe",
)
def describe_command() -> int:
    click.echo(describe_text())
    return 0


_ROLLUP_STATUS_SQL = """
SELECT (SELECT count(*) FROM dashboard_rollup_hourly) AS hours,
       (SELECT count(*) FROM dashboard_rollup_daily) AS days,
       (SELECT max("hour") FROM dashboard_rollup_hourly) AS latest,
       (SELECT version FROM dashboard_data_version WHERE id = 1) AS version
"""


@group.command(
    name="rollups",
    help="The dashboard rollups (per root campaign and UTC hour/day, kept by every load): "
    "print their size and data version, or with --rebuild recompute them from the fact "
    "tables, one transaction per UTC day (default: every day holding facts or rollups).\n\n"
    "Examples:\n\n"
    "  forklift aggregate rollups\n\n"
    "  forklift aggregate rollups --rebuild\n\n"
    "  forklift aggregate rollups --rebuild --start 2026-11-01 --end 2026-11-08",
)
@click.option("--rebuild", is_flag=True, help="Recompute the rollups from the facts.")
@click.option("--start", "start_text", default=None, help="First day (UTC) to rebuild.")
@click.option("--end", "end_text", default=None, help="End day, exclusive.")
def rollups_command(rebuild: bool, start_text: str | None, end_text: str | None) -> int:
    start = parse_bound(start_text, "--start") if start_text else None
    end = parse_bound(end_text, "--end") if end_text else None
    if not rebuild and (start or end):
        raise BadRequest("--start/--end only go with --rebuild")
    if start and end and end <= start:
        raise BadRequest(f"--end {end_text} must be after --start {start_text}")
    core = core_settings()
    core.require("warehouse_dsn")

    async def _run() -> str:
        pool = await create_pool(core.warehouse_dsn or "", name="warehouse", max_size=1)
        try:
            if rebuild:
                total = None
                if start is not None and end is not None:
                    first, last = day_span(start, end)
                    total = (last - first) // DAY
                with tqdm(total=total, unit="day") as bar:
                    days, version = await rebuild_rollups(pool, start, end, bar.update)
                return f"rebuilt {days} days of rollups, data version {version}"
            row = await pool.fetchrow(_ROLLUP_STATUS_SQL)
        finally:
            await pool.close()
        latest = row["latest"].isoformat() if row["latest"] else "-"
        return (
            f"rollup hours={row['hours']} days={row['days']} latest={latest}"
            f" version={row['version'] or 0}"
        )

    click.echo(run_async(_run()))
    return 0
