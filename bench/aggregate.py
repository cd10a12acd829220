"""Benchmark the aggregator: a backfill of every (fact table, hour) through the arq worker
against one hand-written INSERT ... SELECT ... GROUP BY per table over the whole range, and
the cost of one hour on the full events table vs on a table 10x smaller.

    python bench/aggregate.py --quick                       # 100,000 events, under a minute
    python bench/aggregate.py --events 5000000 --days 30    # the issue's size

Prints the ratio backfill/baseline (goal <= 1.5), hour_big/hour_small (goal <= 2) and a last
line ``RESULT aggregate key=value ...``.
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

from services.aggregator.runner import enqueue_hours, load_hour  # noqa: E402
from services.aggregator.worker import WorkerSettings  # noqa: E402
from services.migrations import migrate_warehouse  # noqa: E402
from shared.db import quote_ident  # noqa: E402
from shared.facts import FACT_TABLES, FactTable  # noqa: E402
from shared.queues import connect_queue  # noqa: E402
from shared.settings import CoreSettings  # noqa: E402
from shared.worker import build_worker  # noqa: E402
from tests import stack  # noqa: E402

TYPES = sorted({t for table in FACT_TABLES for f in table.facts for t in f.event_types})
GENERATE_SQL = """
INSERT INTO visitors (visitor_id, uuid, fbid)
SELECT u, md5(u::text), CASE WHEN u % 4 <> 0 THEN 100000000000 + u END
FROM generate_series(1, $1::bigint / 20 + 1) AS u;
INSERT INTO visits (visit_id, visitor_id, session_id, app_id, ip)
SELECT v, 1 + v % ($1::bigint / 20 + 1), md5(v::text), 1, '10.' || (v % 250) || '.' || (v % 7)
FROM generate_series(1, $1::bigint / 7 + 1) AS v;
INSERT INTO events (event_id, visit_id, campaign_id, friend_fbid, type, created, updated)
SELECT g, 1 + g / 7, 1 + g % 40, CASE WHEN g % 3 = 0 THEN 200000000000 + g % 50000 END,
    ($3::text[])[1 + g % array_length($3::text[], 1)], ts, ts
FROM generate_series(1, $1::bigint) AS g,
    LATERAL (SELECT $2::timestamptz + (g - 1) * ($4::interval / $1::bigint) AS ts) t
"""


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
            await load_hour(pool, table, hour)
        best = min(best, time.monotonic() - started)
    return best


async def run(events: int, days: int) -> str:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    start = end - timedelta(days=days)
    hours = [start + timedelta(hours=i) for i in range(days * 24)]
    try:
        dsn = await stack.create_database(f"{prefix}warehouse")
        await migrate_warehouse(dsn)
        core = CoreSettings(warehouse_dsn=dsn, redis_url=claim.url, _env_file=None)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=6)
        started = time.monotonic()
        args = (events, start, TYPES, timedelta(days=days))
        for statement in GENERATE_SQL.split(";"):
            await pool.execute(statement, *args[: 4 if "events" in statement else 1])
        await pool.execute("VACUUM ANALYZE")
        print(f"generated {events} events over {days} days in {time.monotonic() - started:.1f}s")

        started = time.monotonic()
        for table in FACT_TABLES:
            await pool.execute(baseline_sql(table))
        baseline_s = time.monotonic() - started
        print(f"(a) baseline GROUP BY per table: {baseline_s:.2f}s", flush=True)

        redis = await connect_queue(claim.url)
        started = time.monotonic()
        await enqueue_hours(redis, FACT_TABLES, hours)
        worker = build_worker(WorkerSettings, core, burst=True, cron_jobs=None)
        await worker.main()
        await worker.close()
        backfill_s = time.monotonic() - started
        await redis.aclose()
        print(f"(b) backfill {len(hours)} hours x 5 tables via the worker: {backfill_s:.2f}s")
        checks = [
            await pool.fetchval(f"SELECT count(*) FROM {quote_ident(n)}")  # noqa: S608 ours
            for n in (FACT_TABLES[0].name, f"base_{FACT_TABLES[0].slug}")
        ]
        assert checks[0] == checks[1], f"backfill rows {checks[0]} != baseline {checks[1]}"

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
        f"RESULT aggregate events={events} days={days} hours={len(hours)}"
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
