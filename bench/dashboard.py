"""Benchmark the dashboard API: ``/api/campaigns/{id}/series`` (30 days hourly) under 32
concurrent clients vs the bare asyncpg queries of the same SQL, in the same run.

    python bench/dashboard.py --quick                                   # small, under a minute
    python bench/dashboard.py                      # 5.5M fact rows, what 5M events aggregate to

Fact rows are generated directly (campaigns x hours x distinct rows per hour in every fact
table), sized like the aggregator's output of the demo data scaled up. Prints requests/s,
p50/p99 of both, the overhead ratio (baseline rps / API rps, goal <= 1.5) and a last line
``RESULT dashboard key=value ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import structlog
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.dashboard_api.api import create_app  # noqa: E402
from services.dashboard_api.metrics import CAMPAIGNS_OF_ROOTS, metric_queries  # noqa: E402
from services.dashboard_api.passwords import make_django_hash  # noqa: E402
from services.dashboard_api.settings import DashboardSettings  # noqa: E402
from services.migrations import migrate_source, migrate_warehouse  # noqa: E402
from shared.db import quote_ident  # noqa: E402
from shared.facts import FACT_TABLES  # noqa: E402
from shared.settings import CoreSettings  # noqa: E402
from tests import stack  # noqa: E402

END = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
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
        await pool.execute(sql, campaigns, END - timedelta(days=DAYS + 5), END, n)
        total += campaigns * (DAYS + 5) * 24 * n
    for table in FACT_TABLES:
        await pool.execute(f"CREATE INDEX ON {quote_ident(table.name)} (campaign_id, hour)")
        await pool.execute(f"ANALYZE {quote_ident(table.name)}")
    await pool.execute("ANALYZE campaign_properties")
    return total


async def load(n_clients: int, n_requests: int, one: object) -> tuple[float, list[float]]:
    """Run ``one()`` n_requests times from n_clients concurrent loops: (seconds, latencies)."""
    latencies: list[float] = []
    remaining = iter(range(n_requests))

    async def client() -> None:
        for _ in remaining:
            t = time.perf_counter()
            await one()  # type: ignore[operator]
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(n_clients)))
    return time.perf_counter() - t0, latencies


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def bench(args: argparse.Namespace) -> None:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
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
        core = CoreSettings(
            source_dsn=source, warehouse_dsn=warehouse, redis_url=claim.url, _env_file=None
        )
        # the same statement handling as the API's pool (shared.db.create_pool custom_plans)
        pool = await asyncpg.create_pool(
            warehouse, min_size=args.clients, max_size=args.clients, statement_cache_size=0
        )
        t = time.perf_counter()
        rows = await generate(pool, args.campaigns, args.rows_per_hour)
        print(f"generated {rows:,} fact rows in {time.perf_counter() - t:.1f}s", flush=True)
        start, end = END - timedelta(days=DAYS), END
        roots = list(range(1, args.campaigns + 1, 4))
        queries = metric_queries("hour")
        counter = iter(range(10**9))

        async def bare() -> None:
            root = roots[next(counter) % len(roots)]
            campaigns = await pool.fetchval(CAMPAIGNS_OF_ROOTS, [root])
            for q in queries:
                await pool.fetch(q.sql, campaigns, start, end)

        base_s, base_lat = await load(args.clients, args.requests, bare)
        settings = DashboardSettings(
            session_secret=SECRET, password_iterations=1000, _env_file=None
        )
        runner = web.AppRunner(await create_app(core, settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        params = {"start": start.isoformat(), "end": end.isoformat(), "granularity": "hour"}
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.clients)
        ) as http:
            login = {"username": "bench", "password": SECRET}
            async with http.post(f"{url}/api/login", json=login) as resp:
                assert resp.status == 200, await resp.text()
                headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}

            async def api() -> None:
                root = roots[next(counter) % len(roots)]
                async with http.get(
                    f"{url}/api/campaigns/{root}/series", params=params, headers=headers
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    assert len((await resp.json())["points"]) > 0

            api_s, api_lat = await load(args.clients, args.requests, api)
        await runner.cleanup()
        await pool.close()
    finally:
        await stack.drop_databases(prefix)
        claim.release()
    api_rps, base_rps = args.requests / api_s, args.requests / base_s
    ratio = base_rps / api_rps
    print(
        f"bare asyncpg: {base_rps:.0f} req/s p50 {pct(base_lat, 0.5):.1f} ms p99 {pct(base_lat, 0.99):.1f} ms"
    )
    print(
        f"API         : {api_rps:.0f} req/s p50 {pct(api_lat, 0.5):.1f} ms p99 {pct(api_lat, 0.99):.1f} ms"
    )
    print(
        f"overhead ratio (baseline rps / API rps): {ratio:.2f} (goal <= 1.5); mean API latency {statistics.mean(api_lat) * 1000:.1f} ms"
    )
    print(
        f"RESULT dashboard fact_rows={rows} campaigns={args.campaigns} clients={args.clients} "
        f"requests={args.requests} api_rps={api_rps:.1f} api_p50_ms={pct(api_lat, 0.5):.2f} "
        f"api_p99_ms={pct(api_lat, 0.99):.2f} base_rps={base_rps:.1f} "
        f"base_p50_ms={pct(base_lat, 0.5):.2f} base_p99_ms={pct(base_lat, 0.99):.2f} ratio={ratio:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=200, help="campaigns (a root every 4)")
    parser.add_argument(
        "--rows-per-hour", type=int, default=8, help="dimension rows per campaign-hour (8)"
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=300, help="requests per side (300)")
    parser.add_argument(
        "--quick", action="store_true", help="small size: 20 campaigns, 4 rows/hour, 400 requests"
    )
    args = parser.parse_args()
    if args.quick:
        args.campaigns, args.rows_per_hour, args.requests = 20, 4, 400
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
