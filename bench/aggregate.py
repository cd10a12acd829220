"""Benchmark the aggregator: a backfill of every fact table over the whole range, queued as
day batches and run by the arq worker, against one hand-written CREATE TABLE AS ... GROUP BY
per table over the whole range (the literal count(DISTINCT) definition), and the cost of one
hour on the full events table vs on a table 10x smaller. The campaigns have roots, so the
loads (not the baseline) also keep the dashboard rollups, as in production.

    python bench/aggregate.py --quick                       # 100,000 events, under a minute
    python bench/aggregate.py --events 5000000 --days 30    # the issue's size (the default)

Prints the ratio backfill/baseline (goal <= 1.2), the jobs queued, hour_big/hour_small
(goal <= 2) and a last line ``RESULT aggregate key=value ...``. The backfill's tables are
checked equal to the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.aggregator.hours import HOUR, batches  # noqa: E402
from services.aggregator.runner import enqueue_ranges, load_range  # noqa: E402
from services.aggregator.settings import AggregatorSettings  # noqa: E402
from services.aggregator.worker import WorkerSettings  # noqa: E402
from services.migrations import migrate_warehouse  # noqa: E402
from shared.db import quote_ident  # noqa: E402
from shared.facts import FACT_TABLES, FactTable  # noqa: E402
from shared.queues import connect_queue  # noqa: E402
from shared.settings import CoreSettings  # noqa: E402
from shared.worker import build_worker  # noqa: E402
from tests import stack  # noqa: E402
from tests.aggregator.fixture import generate_raw  # noqa: E402


def baseline_sql(table: FactTable) -> str:
    """The hand-written reference: one GROUP BY over the whole range, types inlined."""
    dim = table.dimension.source if table.dimension else None
    facts = []
    for fact in table.facts:
        types = ", ".join(f"'{t}'" for t in fact.event_types)
        if fact.kind == "sum":
            facts.append(f"count(*) FILTER (WHERE events.type IN ({types})) AS {fact.name}")
        else:
            facts.append(
                f"count(DISTINCT CASE WHEN events.type IN ({types}) THEN {dim} END) AS {fact.name}"
            )
    joins = "".join(f" JOIN {t} ON {t}.{r} = {left}.{col}" for t, col, r, left in _joins(table))
    return (
        f"CREATE TABLE base_{table.slug} AS SELECT events.campaign_id,"  # noqa: S608 ours
        f" date_trunc('hour', events.created) AS hour{', ' + dim if dim else ''},"
        f" {', '.join(facts)} FROM events{joins} WHERE events.campaign_id IS NOT NULL"
        f"{' AND ' + dim + ' IS NOT NULL' if dim else ''}"
        f" GROUP BY 1, 2{', 3' if dim else ''}"
    )


def _joins(table: FactTable) -> list[tuple[str, str, str, str]]:
    left, out = "events", []
    for joined, column, right in table.joins:
        out.append((joined, column, right, left))
        left = joined
    return out


async def _one_hour_s(pool: asyncpg.Pool, hour: datetime, repeat: int = 3) -> float:
    """Best of ``repeat`` loads of every table for ``hour``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.monotonic()
        for table in FACT_TABLES:
            await load_range(pool, table, hour, hour + HOUR, lock_wait_s=60)
        best = min(best, time.monotonic() - started)
    return best


async def _differing(pool: asyncpg.Pool, table: FactTable) -> int:
    """Rows in the backfilled table or its baseline but not both."""
    name, base = quote_ident(table.name), quote_ident(f"base_{table.slug}")
    sql = (
        f"SELECT (SELECT count(*) FROM (TABLE {name} EXCEPT ALL TABLE {base}) a)"  # noqa: S608
        f" + (SELECT count(*) FROM (TABLE {base} EXCEPT ALL TABLE {name}) b)"
    )
    return int(await pool.fetchval(sql))


async def run(events: int, days: int) -> str:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    start = end - timedelta(days=days)
    hours = [start + timedelta(hours=i) for i in range(days * 24)]
    ranges = batches(hours, AggregatorSettings(_env_file=None).batch_hours)
    try:
        dsn = await stack.create_database(f"{prefix}warehouse")
        await migrate_warehouse(dsn)
        core = CoreSettings(warehouse_dsn=dsn, redis_url=claim.url, _env_file=None)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=6)
        started = time.monotonic()
        await generate_raw(pool, events, start, timedelta(days=days))
        # the fixture's 40 campaigns under 10 roots: the loads also keep the dashboard rollups
        await pool.execute(
            "INSERT INTO campaign_properties (campaign_property_id, campaign_id, root_campaign_id)"
            " SELECT c, c, c - (c - 1) % 4 FROM generate_series(1, 40) c"
        )
        await pool.execute("VACUUM ANALYZE")
        print(f"generated {events} events over {days} days in {time.monotonic() - started:.1f}s")

        started = time.monotonic()
        for table in FACT_TABLES:
            await pool.execute(baseline_sql(table))
        baseline_s = time.monotonic() - started
        print(f"(a) baseline GROUP BY per table: {baseline_s:.2f}s", flush=True)

        redis = await connect_queue(claim.url)
        started = time.monotonic()
        jobs = await enqueue_ranges(redis, FACT_TABLES, ranges)
        worker = build_worker(WorkerSettings, core, burst=True, cron_jobs=None)
        await worker.main()
        await worker.close()
        backfill_s = time.monotonic() - started
        await redis.aclose()
        print(
            f"(b) backfill {len(hours)} hours x 5 tables as {jobs} jobs via the worker:"
            f" {backfill_s:.2f}s",
            flush=True,
        )
        for table in FACT_TABLES:
            differing = await _differing(pool, table)
            assert differing == 0, f"{table.name}: {differing} rows differ from the baseline"

        probe = end - timedelta(hours=12)
        hour_big_s = await _one_hour_s(pool, probe)
        await pool.execute("DELETE FROM events WHERE created < $1", end - timedelta(days=days / 10))
        await pool.execute("VACUUM ANALYZE events")
        small = await pool.fetchval("SELECT count(*) FROM events")
        hour_small_s = await _one_hour_s(pool, probe)
        print(
            f"one hour, 5 tables: {hour_big_s:.3f}s on {events} vs {hour_small_s:.3f}s on {small}"
        )
        await pool.close()
    finally:
        claim.release()
        await stack.drop_databases(prefix)
    return (
        f"RESULT aggregate events={events} days={days} hours={len(hours)} jobs={jobs}"
        f" baseline_s={baseline_s:.2f} backfill_s={backfill_s:.2f}"
        f" backfill_vs_baseline={backfill_s / baseline_s:.2f} hour_big_s={hour_big_s:.4f}"
        f" hour_small_s={hour_small_s:.4f} small_events={small}"
        f" hour_big_vs_small={hour_big_s / hour_small_s:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="events (5,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days the events span (30)")
    parser.add_argument("--quick", action="store_true", help="100,000 events, under a minute")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    events = 100_000 if args.quick else args.events
    print(asyncio.run(run(events, args.days)))


if __name__ == "__main__":
    main()
