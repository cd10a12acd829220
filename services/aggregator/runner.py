"""Loading a (fact table, hour range) into the warehouse, queueing ranges, draining sync's
outbox into queued loads, reading the status."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from services.aggregator.errors import AggregateError
from services.aggregator.hours import batches, hour_number, job_id
from services.aggregator.rollups import feeds_rollups, refresh_rollups
from services.aggregator.sql import load_statements, select_params
from shared.db import quote_ident
from shared.facts import FACT_TABLES, FactTable
from shared.logging import get_logger
from shared.outbox import AGGREGATE_OUTBOX
from shared.queues import enqueue

__all__ = [
    "HourLocked",
    "Range",
    "tune_transaction",
    "load_range",
    "enqueue_ranges",
    "drain_outbox",
    "outbox_depth",
    "latest_hours",
]

log = get_logger("forklift.aggregator")

Range = tuple[datetime, datetime]


class HourLocked(AggregateError):
    """Another load of an overlapping range held its hours longer than the wait allowed."""


# Planner settings of a load or a verify, for its transaction only:
# - plans for the actual range (a generic plan cannot see how narrow it is);
# - index probes priced like the cached/SSD reads they are: with Postgres's default
#   random_page_cost of 4, one hour's 7,000 events hash-join a whole 700,000-row visits
#   table, so an hour's cost would grow with the table instead of with its events;
# - no parallel workers: loads run side by side already (worker jobs, --inline);
# - work_mem for a day's join and aggregate in memory (4MB spills them to disk).
_TUNE_SQL = """
SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
       set_config('random_page_cost', '1.1', true),
       set_config('max_parallel_workers_per_gather', '0', true),
       set_config('work_mem', $1, true)
"""


async def tune_transaction(conn: asyncpg.Connection, work_mem_mb: int) -> None:
    """Apply the aggregator's planner settings to ``conn``'s current transaction."""
    await conn.execute(_TUNE_SQL, f"{work_mem_mb}MB")


async def load_range(
    pool: asyncpg.Pool,
    table: FactTable,
    start: datetime,
    end: datetime,
    lock_wait_s: float,
    work_mem_mb: int = 64,
) -> int:
    """Recompute ``table`` for the hours [start, end) and replace them, in one transaction:
    readers see every hour of the range old or new, never a gap; re-running gives the same
    rows. One INSERT ... SELECT ... GROUP BY covers the whole range, so a day costs one
    statement, and an hour's cost follows its events (index on ``events.created``).

    Loads of overlapping ranges take turns on per-hour advisory locks (waiting at most
    ``lock_wait_s``, else :class:`HourLocked`); ``work_mem_mb`` is Postgres's work_mem for
    the load. The same transaction deletes the outbox
    rows of the range (they are answered by this recomputation) and, for a table a
    dashboard metric reads, refreshes the dashboard rollups of the range and bumps the data
    version (:mod:`services.aggregator.rollups`). Returns the fact rows written.
    """
    lock, acknowledge, clear, fill = load_statements(table)
    started = time.monotonic()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await tune_transaction(conn, work_mem_mb)
            await conn.execute(
                "SELECT set_config('lock_timeout', $1, true)", f"{int(lock_wait_s * 1000)}ms"
            )
            await conn.execute(
                lock, f"aggregate:{table.slug}", hour_number(start), hour_number(end)
            )
            await conn.execute(acknowledge, table.slug, start, end)
            await conn.execute(clear, start, end)
            status = await conn.execute(fill, *select_params(table, start, end))
            if feeds_rollups(table):
                await refresh_rollups(conn, table, start, end)
    except asyncpg.LockNotAvailableError as e:
        raise HourLocked(
            f"{table.name} [{start.isoformat()}, {end.isoformat()}): another load held its"
            f" hours for over {lock_wait_s:g}s"
        ) from e
    rows = int(status.split()[-1])
    log.debug(
        "aggregate.range.done",
        table=table.name,
        start=start.isoformat(),
        end=end.isoformat(),
        rows=rows,
        seconds=round(time.monotonic() - started, 3),
    )
    return rows


async def enqueue_ranges(redis: Redis, tables: Sequence[FactTable], ranges: Iterable[Range]) -> int:
    """Queue ``aggregate_range`` per (table, range); returns how many were newly queued (an
    already queued or running (table, range) collapses into that job)."""
    queued = 0
    for start, end in ranges:
        for table in tables:
            job = await enqueue(
                redis,  # type: ignore[arg-type]
                "aggregator",
                "aggregate_range",
                table.slug,
                start.isoformat(),
                end.isoformat(),
                job_id=job_id(table, start, end),
            )
            queued += job is not None
    return queued


_PENDING_SQL = f"""
SELECT "fact_table", "hour" FROM {quote_ident(AGGREGATE_OUTBOX.name)}
GROUP BY 1, 2 ORDER BY 1, 2
"""  # noqa: S608 our identifier


async def drain_outbox(pool: asyncpg.Pool, redis: Redis, batch_hours: int) -> tuple[int, int]:
    """Queue a load for every (fact table, hour) waiting in the outbox, consecutive hours
    batched as ``queue`` does. Rows stay until a load of their hour commits, so this is
    safe to repeat (each repeat re-queues what is still stale). Rows naming a fact table
    the definition no longer has are deleted. Returns (pending hours, newly queued jobs)."""
    pending: dict[str, list[datetime]] = {}
    for row in await pool.fetch(_PENDING_SQL):
        pending.setdefault(row["fact_table"], []).append(row["hour"])
    known = {t.slug: t for t in FACT_TABLES}
    gone = sorted(set(pending) - set(known))
    if gone:
        log.warning("aggregate.outbox.unknown_tables", tables=gone)
        await pool.execute(
            f'DELETE FROM {quote_ident(AGGREGATE_OUTBOX.name)} WHERE "fact_table" = ANY($1)',  # noqa: S608
            gone,
        )
    queued = 0
    for slug, hours in pending.items():
        if slug in known:
            queued += await enqueue_ranges(redis, [known[slug]], batches(hours, batch_hours))
    count = sum(len(h) for s, h in pending.items() if s in known)
    if count:
        log.info("aggregate.outbox.drained", hours=count, queued=queued)
    return count, queued


async def outbox_depth(pool: asyncpg.Pool) -> int:
    """(fact table, hour) pairs waiting in the outbox."""
    sql = f"SELECT count(*) FROM ({_PENDING_SQL}) p"  # noqa: S608 ours
    return int(await pool.fetchval(sql))


async def latest_hours(pool: asyncpg.Pool) -> list[tuple[str, datetime | None, int]]:
    """(table, latest loaded hour, rows) per fact table."""
    result = []
    for table in FACT_TABLES:
        name = quote_ident(table.name)
        sql = f'SELECT max("hour") AS latest, count(*) AS rows FROM {name}'  # noqa: S608
        row = await pool.fetchrow(sql)
        result.append((table.name, row["latest"], row["rows"]))
    return result
