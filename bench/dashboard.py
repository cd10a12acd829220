"""Benchmark the dashboard API under 32 concurrent clients: a root campaign's 30-day hourly
series (``/api/campaigns/{id}/series``) and 30-day summary (``/api/campaigns/{id}``), read
from the rollups, against the bare asyncpg SQL of the old path (the same metrics straight
from the fact tables), in the same run.

    python bench/dashboard.py --quick                                   # small, under a minute
    python bench/dashboard.py                      # 5,544,000 fact rows (200 campaigns, 35 days)

Fact rows are generated directly (campaigns x hours x distinct rows per hour in every fact
table), then the rollups built from them (``rebuild_rollups``, timed). The API runs in a
process of its own (``forklift serve dashboard_api``). Cases, each a fixed number of
requests from 32 concurrent clients:

- ``old_series``/``old_summary``: the old path's bare SQL (baseline), distinct ranges;
- ``series``/``summary``: the API, every request a range (root, start hour) no other
  request asks (answer cache misses; the decoded rollup days of a root are kept by data
  version, so ranges over the same days reuse them);
- ``series_hit``/``summary_hit``: the API, 8 ranges asked over and over (answer cache hits);
- ``series_pg``/``summary_pg``: a second API process with both caches off
  (``CACHE_ENTRIES=0``, ``BLOCK_CACHE_DAYS=0``): every request reads its rollup rows.

A few API answers are checked against the old SQL first (exact), and the 32 clients open
their connections (a health check each) before the first case is timed. Prints p50/p99, the API
process's CPU ms per request (``<case>_cpu_ms``: steadier than latency on a shared machine) and
requests/s per case, each API case's ratio to its old SQL (rps / old rps: the speedup) and
a last line ``RESULT dashboard key=value ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import structlog
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.aggregator.rollups import rebuild_rollups  # noqa: E402
from services.dashboard_api.metrics import CAMPAIGNS_OF_ROOTS, metric_queries  # noqa: E402
from services.dashboard_api.passwords import make_django_hash  # noqa: E402
from services.dashboard_api.queries import fetch_metrics  # noqa: E402
from services.migrations import migrate_source, migrate_warehouse  # noqa: E402
from shared.db import create_pool, quote_ident  # noqa: E402
from shared.embedded import free_port  # noqa: E402
from shared.facts import FACT_TABLES  # noqa: E402
from tests import stack  # noqa: E402

END = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30  # the range asked for
DATA_DAYS = DAYS + 5  # the days of generated facts
SECRET = "bench-secret"


async def generate(pool: asyncpg.Pool, campaigns: int, rows_per_hour: int) -> int:
    """Clients/campaigns (every 4th a root of the next 3) and fact rows; the fact row count."""
    await pool.execute("INSERT INTO clients (client_id, name) VALUES (1, 'bench')")
    await pool.execute(
        "INSERT INTO campaigns (campaign_id, client_id, name) "
        "SELECT g, 1, 'c' || g FROM generate_series(1, $1) g",
        campaigns,
    )
    await pool.execute(
        "INSERT INTO campaign_properties (campaign_property_id, campaign_id, root_campaign_id) "
        "SELECT g, g, g - (g - 1) % 4 FROM generate_series(1, $1) g",
        campaigns,
    )
    total = 0
    for table in FACT_TABLES:
        dim = [quote_ident(table.dimension.name)] if table.dimension else []
        facts = [quote_ident(f.name) for f in table.facts]
        n = rows_per_hour if table.dimension else 1
        dim_value = (
            ["(r * 7919 + c)::bigint" if table.dimension.type == "bigint" else "r::text"]
            if dim
            else []
        )
        values = ", ".join(["c", "h", *dim_value, *["(r + c) % 3" for _ in facts]])
        columns = ", ".join([*dim, *facts])
        sql = (
            f"INSERT INTO {quote_ident(table.name)} (campaign_id, hour, {columns}) SELECT {values} "  # noqa: S608 - names from shared.facts, quoted
        )
        sql += (
            "FROM generate_series(1, $1) c, generate_series($2::timestamptz, "
            "$3::timestamptz - interval '1 hour', interval '1 hour') h, generate_series(1, $4) r"
        )
        await pool.execute(sql, campaigns, END - timedelta(days=DATA_DAYS), END, n)
        total += campaigns * DATA_DAYS * 24 * n
    for table in FACT_TABLES:
        await pool.execute(f"CREATE INDEX ON {quote_ident(table.name)} (campaign_id, hour)")
        await pool.execute(f"ANALYZE {quote_ident(table.name)}")
    await pool.execute("ANALYZE campaign_properties")
    return total


async def load(n_clients: int, n_requests: int, one: object) -> tuple[float, list[float]]:
    """Run ``one(i)`` for i in range(n_requests) from n_clients concurrent loops:
    (seconds, latencies)."""
    latencies: list[float] = []
    remaining = iter(range(n_requests))

    async def client() -> None:
        for i in remaining:
            t = time.perf_counter()
            await one(i)  # type: ignore[operator]
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(n_clients)))
    return time.perf_counter() - t0, latencies


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def start_api(
    source: str, warehouse: str, redis_url: str, settings: dict[str, str]
) -> tuple[asyncio.subprocess.Process, str]:
    """``forklift serve dashboard_api`` in a process of its own; (process, base URL)."""
    port = free_port()
    env = {
        **os.environ,
        "FORKLIFT_SOURCE_DSN": source,
        "FORKLIFT_WAREHOUSE_DSN": warehouse,
        "FORKLIFT_REDIS_URL": redis_url,
        "FORKLIFT_LOG_LEVEL": "WARNING",
        "FORKLIFT_DB_POOL_MAX_SIZE": "16",
        "FORKLIFT_DASHBOARD_SESSION_SECRET": SECRET,
        "FORKLIFT_DASHBOARD_PASSWORD_ITERATIONS": "1000",
        **settings,
    }
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "services", "serve", "dashboard_api", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{url}/api/health") as resp:
                    if resp.status == 200:
                        return process, url
            except aiohttp.ClientError:
                pass
            if process.returncode is not None:
                raise RuntimeError("the dashboard API exited at start-up")
            await asyncio.sleep(0.1)
    process.terminate()
    raise RuntimeError("the dashboard API did not start")


def _ranges(roots: list[int], n: int, end: datetime) -> list[tuple[int, datetime, datetime]]:
    """n distinct (root, start, end) 30-day ranges inside the data: roots x start hours."""
    hours = (DATA_DAYS - DAYS) * 24
    return [
        (roots[i % len(roots)], start, start + timedelta(days=DAYS))
        for i in range(n)
        for start in [end - timedelta(days=DAYS) - timedelta(hours=(i // len(roots)) % hours)]
    ]


async def bench(args: argparse.Namespace) -> dict[str, float]:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
    process = None
    figures: dict[str, float] = {}
    try:
        source = await stack.create_database(f"{prefix}source")
        warehouse = await stack.create_database(f"{prefix}warehouse")
        await migrate_warehouse(warehouse)
        await migrate_source(source)
        # the superuser the API's sessions are checked against on every request
        conn = await asyncpg.connect(source)
        await conn.execute(
            "INSERT INTO auth_user (id, username, password, is_superuser, is_active) "
            "VALUES (1, 'bench', $1, true, true)",
            make_django_hash(SECRET, "bench", 1000),
        )
        await conn.close()
        # the old path planned as the API planned it (shared.db.create_pool custom_plans)
        pool = await create_pool(
            warehouse, name="warehouse", max_size=args.clients, custom_plans=True
        )
        t = time.perf_counter()
        rows = await generate(pool, args.campaigns, args.rows_per_hour)
        print(f"generated {rows:,} fact rows in {time.perf_counter() - t:.1f}s", flush=True)
        t = time.perf_counter()
        days, _ = await rebuild_rollups(pool)
        rollup_rows = await pool.fetchval(
            "SELECT (SELECT count(*) FROM dashboard_rollup_hourly)"
            " + (SELECT count(*) FROM dashboard_rollup_daily)"
        )
        print(
            f"rollups of {days} days: {rollup_rows:,} rows in {time.perf_counter() - t:.1f}s",
            flush=True,
        )
        figures.update(fact_rows=rows, rollup_rows=rollup_rows)
        roots = list(range(1, args.campaigns + 1, 4))
        ranges = _ranges(roots, args.requests, END)
        assert len(set(ranges)) == len(ranges), "every request's range is its own"
        old = {"series": metric_queries("hour"), "summary": metric_queries("root")}

        def old_sql(case: str) -> object:
            async def one(i: int) -> None:
                root, start, end = ranges[i]
                campaigns = await pool.fetchval(CAMPAIGNS_OF_ROOTS, [root])
                for q in old[case]:
                    await pool.fetch(q.sql, campaigns, start, end)

            return one

        for case in ("series", "summary"):
            seconds, latencies = await load(args.clients, args.requests, old_sql(case))
            record(figures, f"old_{case}", seconds, latencies)

        for suffix, env in SERVERS:
            process, url = await start_api(source, warehouse, claim.url, env)
            await measure(args, pool, url, ranges, suffix, figures, process.pid)
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
            process = None
        await pool.close()
    finally:
        if process is not None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        await stack.drop_databases(prefix)
        claim.release()
    return figures


HIT_RANGES = 8
# (case suffix, settings) of the API processes: as deployed; without caches (each request
# reads the rollups from Postgres)
SERVERS = (
    ("", {}),
    ("_pg", {"FORKLIFT_DASHBOARD_BLOCK_CACHE_DAYS": "0", "FORKLIFT_DASHBOARD_CACHE_ENTRIES": "0"}),
)


async def measure(
    args: argparse.Namespace,
    pool: asyncpg.Pool,
    url: str,
    ranges: list[tuple[int, datetime, datetime]],
    suffix: str,
    figures: dict[str, float],
    pid: int,
) -> None:
    """The API cases against the server at ``url`` (process ``pid``), after checking some
    answers; each case also records the API process's CPU time per request."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients)) as http:
        login = {"username": "bench", "password": SECRET}
        async with http.post(f"{url}/api/login", json=login) as resp:
            assert resp.status == 200, await resp.text()
            headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}

        async def get(case: str, root: int, start: datetime, end: datetime) -> bytes:
            """The answer's body (parsed only where checked: the client's JSON parsing
            of a 720-point series is no part of the API's latency)."""
            path = f"/api/campaigns/{root}" + ("/series" if case == "series" else "")
            params = {"start": iso(start), "end": iso(end)}
            async with http.get(url + path, params=params, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.read()

        # exact: the API's answers equal the old path's on some of the ranges
        for root, start, end in ranges[:: max(1, len(ranges) // 4)]:
            got = json.loads(await get("summary", root, start, end))
            want = await fetch_metrics(pool, [root], start, end, "root")
            assert got["metrics"] == want[root], (root, start)
            got = json.loads(await get("series", root, start, end))
            want = await fetch_metrics(pool, [root], start, end, "hour")
            assert {datetime.fromisoformat(p["start"]): p["metrics"] for p in got["points"]} == want

        # the clients' connections opened before any case is timed (the first case would
        # otherwise pay the TCP set-up the cases after it reuse)
        async def health(_: int) -> None:
            async with http.get(f"{url}/api/health") as resp:
                assert resp.status == 200, await resp.text()

        await load(args.clients, args.clients, health)

        def api(case: str, repeat: int | None) -> object:
            async def one(i: int) -> None:
                await get(case, *ranges[i % repeat if repeat else i])

            return one

        for case in ("series", "summary"):
            cpu = cpu_s(pid)
            seconds, latencies = await load(args.clients, args.requests, api(case, None))
            record(figures, case + suffix, seconds, latencies, cpu_s(pid) - cpu)
            if suffix:  # no caches: every request reads the rollups
                continue
            await load(args.clients, HIT_RANGES, api(case, HIT_RANGES))  # warm
            cpu = cpu_s(pid)
            seconds, latencies = await load(args.clients, args.requests, api(case, HIT_RANGES))
            record(figures, f"{case}_hit", seconds, latencies, cpu_s(pid) - cpu)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def record(
    figures: dict[str, float],
    case: str,
    seconds: float,
    latencies: list[float],
    cpu_seconds: float | None = None,
) -> None:
    """A case's requests/s and percentiles (and the API's CPU ms per request, if given)."""
    figures[f"{case}_rps"] = len(latencies) / seconds
    figures[f"{case}_p50_ms"] = pct(latencies, 0.5)
    figures[f"{case}_p99_ms"] = pct(latencies, 0.99)
    cpu = ""
    if cpu_seconds is not None:
        figures[f"{case}_cpu_ms"] = cpu_seconds * 1000 / len(latencies)
        cpu = f"  API cpu {figures[f'{case}_cpu_ms']:5.2f} ms/request"
    print(
        f"{case:12s}: {figures[f'{case}_rps']:7.1f} req/s  p50 {figures[f'{case}_p50_ms']:8.1f} ms"
        f"  p99 {figures[f'{case}_p99_ms']:8.1f} ms{cpu}",
        flush=True,
    )


def report(args: argparse.Namespace, figures: dict[str, float]) -> None:
    for case in ("series", "summary"):
        for name in (case, f"{case}_hit", f"{case}_pg"):
            figures[f"{name}_ratio"] = figures[f"{name}_rps"] / figures[f"old_{case}_rps"]
            print(f"{name}: {figures[f'{name}_ratio']:.1f}x the requests/s of the old SQL")
    fields = {"campaigns": args.campaigns, "clients": args.clients, "requests": args.requests}
    fields.update(figures)
    text = " ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
    )
    print(f"RESULT dashboard {text}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=200, help="campaigns (a root every 4)")
    parser.add_argument(
        "--rows-per-hour", type=int, default=8, help="dimension rows per campaign-hour (8)"
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=1000, help="requests per case (1000)")
    parser.add_argument(
        "--quick", action="store_true", help="small size: 20 campaigns, 4 rows/hour, 300 requests"
    )
    args = parser.parse_args()
    if args.quick:
        args.campaigns, args.rows_per_hour, args.requests = 20, 4, 300
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    report(args, uvloop.run(bench(args)))


if __name__ == "__main__":
    main()
