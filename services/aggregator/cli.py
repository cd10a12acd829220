"""``forklift aggregate``: queue or run hourly fact loads, show the status and the definition."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import click
from tqdm import tqdm

from services.aggregator.describe import describe_text
from services.aggregator.hours import parse_date, parse_hour, plan_hours, tables
from services.aggregator.runner import enqueue_hours, latest_hours, locked_load
from services.aggregator.settings import AggregatorSettings
from shared.cli import core_settings, run_async
from shared.db import create_pool
from shared.facts import FactTable
from shared.heartbeat import read_service_status
from shared.queues import connect_queue, queue_depth
from shared.settings import CoreSettings, load_settings

__all__ = ["group"]


@click.group(
    name="aggregate",
    help="Hourly fact tables computed from raw events, defined in code.\n\n"
    "Examples:\n\n"
    "  forklift aggregate queue --days-back 3\n\n"
    "  forklift aggregate hour 2026-11-20T14\n\n"
    "  forklift aggregate status",
)
def group() -> None:
    pass


async def _run_inline(
    core: CoreSettings,
    settings: AggregatorSettings,
    chosen: Sequence[FactTable],
    hours: Sequence[datetime],
    progress: bool,
) -> dict[str, int]:
    """Load every (table, hour) in-process, ``inline_concurrency`` at a time."""
    core.require("warehouse_dsn", "redis_url")
    rows = {t.name: 0 for t in chosen}
    limit = asyncio.Semaphore(settings.inline_concurrency)
    pool = await create_pool(core.warehouse_dsn or "", name="warehouse", max_size=4)
    redis = await connect_queue(core.redis_url or "")
    bar = tqdm(total=len(chosen) * len(hours), unit="load", disable=not progress)

    async def one(table: FactTable, hour: datetime) -> None:
        async with limit:
            count = await locked_load(pool, redis, table, hour, settings.lock_ttl_s)
            rows[table.name] += count  # after the await: no lost update between loads
            bar.update()

    try:
        await asyncio.gather(*(one(t, h) for h in hours for t in chosen))
    finally:
        bar.close()
        await redis.aclose()
        await pool.close()
    return rows


@group.command(
    name="queue",
    help="Queue hourly loads for the aggregator worker (default: the previous and the current "
    "hour, all tables). Dates are UTC, --end-date is exclusive.\n\n"
    "Examples:\n\n"
    "  forklift aggregate queue --days-back 3\n\n"
    "  forklift aggregate queue --start-date 2026-11-01 --end-date 2026-11-08 --table visit\n\n"
    "  forklift aggregate queue --days-back 7 --inline",
)
@click.option("--days-back", type=int, default=None, help="The last N*24 hours.")
@click.option("--start-date", default=None, help="First day (YYYY-MM-DD, UTC).")
@click.option("--end-date", default=None, help="Day after the last (exclusive).")
@click.option("--table", "table_slug", default=None, help="One fact table (slug), e.g. visit.")
@click.option("--inline", is_flag=True, help="Run the loads here, with a progress bar.")
def queue_command(
    days_back: int | None,
    start_date: str | None,
    end_date: str | None,
    table_slug: str | None,
    inline: bool,
) -> int:
    start = parse_date(start_date, "--start-date") if start_date else None
    end = parse_date(end_date, "--end-date") if end_date else None
    hours = plan_hours(datetime.now(UTC), days_back, start, end)
    chosen = tables(table_slug)
    core = core_settings()
    if inline:
        settings = load_settings(AggregatorSettings)
        rows = run_async(_run_inline(core, settings, chosen, hours, progress=True))
        click.echo(f"loaded {len(hours)} hours x {len(chosen)} tables, {sum(rows.values())} rows")
        return 0
    core.require("redis_url")

    async def _queue() -> int:
        redis = await connect_queue(core.redis_url or "")
        try:
            return await enqueue_hours(redis, chosen, hours)
        finally:
            await redis.aclose()

    queued = run_async(_queue())
    click.echo(f"queued {queued} jobs ({len(hours)} hours x {len(chosen)} tables)")
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
    rows = run_async(_run_inline(core_settings(), settings, chosen, [start], progress=False))
    for name, count in rows.items():
        click.echo(f"{name} {start:%Y-%m-%dT%H} rows={count}")
    return 0


@group.command(
    name="status",
    help="Latest loaded hour and rows per fact table, queued jobs, the worker's failures.\n\n"
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
            f"queued={depth} worker_alive={worker.alive} ok={worker.jobs_ok} failed={worker.jobs_failed}"
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
