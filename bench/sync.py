"""Benchmark the sync service: a full sync through S3 (moto) and an incremental sync against
a bare ``COPY ... TO STDOUT | COPY ... FROM STDIN`` pipe between the same two databases.

    python bench/sync.py --quick          # 50,000 rows, well under a minute
    python bench/sync.py --rows 1000000   # the issue's size

Prints where the time goes, the ratios full/pipe (goal <= 2.0) and incremental/full
(goal <= 0.1), and a last line ``RESULT sync key=value ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

import asyncpg
import structlog
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.migrations import migrate_source, migrate_warehouse  # noqa: E402
from services.sync.clients import open_clients  # noqa: E402
from services.sync.dialects import select_sql  # noqa: E402
from services.sync.runner import TableReport, sync_table  # noqa: E402
from services.sync.s3 import ensure_bucket  # noqa: E402
from services.sync.settings import SyncSettings  # noqa: E402
from shared.settings import CoreSettings  # noqa: E402
from shared.source_schema import EVENTS  # noqa: E402
from tests import stack  # noqa: E402

GENERATE_SQL = """
INSERT INTO events (event_id, visit_id, campaign_id, client_content, content, friend_fbid,
    type, activity_id, event_datetime, created, updated)
SELECT g, g / 7, 1 + g % 40, 1 + g % 300,
    CASE WHEN g % 5 = 0 THEN NULL ELSE 'campaign ' || (g % 40) || ' content, "shared" ' || md5(g::text) END,
    CASE WHEN g % 3 = 0 THEN 100000000000 + g * 13 END,
    (ARRAY['button_load','button_click','authorized','shown','shared','clickback'])[1 + g % 6],
    CASE WHEN g % 4 = 0 THEN g * 31 END, ts, ts, ts
FROM generate_series(1, $1::bigint) AS g,
    LATERAL (SELECT now() - interval '7 days' + g * (interval '7 days' / $1::bigint) AS ts) t
"""


async def copy_pipe(source_dsn: str, warehouse_dsn: str) -> tuple[float, int]:
    """The baseline: COPY TO STDOUT streamed straight into COPY FROM STDIN."""
    source = await asyncpg.connect(source_dsn)
    warehouse = await asyncpg.connect(warehouse_dsn)
    await warehouse.execute("CREATE TABLE events_pipe (LIKE events INCLUDING ALL)")
    queue: asyncio.Queue = asyncio.Queue(maxsize=64)

    async def chunks():
        while (chunk := await queue.get()) is not None:
            yield chunk

    started = time.monotonic()
    loader = asyncio.create_task(
        warehouse.copy_to_table("events_pipe", source=chunks(), format="csv")
    )
    await source.copy_from_query(
        select_sql("events", EVENTS.column_names), output=queue.put, format="csv"
    )
    await queue.put(None)
    status = await loader
    seconds = time.monotonic() - started
    await warehouse.execute("DROP TABLE events_pipe")
    await source.close()
    await warehouse.close()
    return seconds, int(status.split()[-1])


def _phases(report: TableReport) -> str:
    return " ".join(f"{k}={v:.2f}s" for k, v in report.phases_s.items())


async def run(rows: int, update_fraction: float, part_size_mb: int) -> str:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        source_dsn = await stack.create_database(f"{prefix}source")
        warehouse_dsn = await stack.create_database(f"{prefix}warehouse")
        await migrate_source(source_dsn)
        await migrate_warehouse(warehouse_dsn)
        core = CoreSettings(
            source_dsn=source_dsn,
            warehouse_dsn=warehouse_dsn,
            redis_url=claim.url,
            aws_endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            _env_file=None,
        )
        settings = SyncSettings(
            _env_file=None,
            tables=["events"],
            modes={"events": "incremental"},
            bucket="forklift-sync-bench",
            part_size_bytes=part_size_mb * 1024 * 1024,
        )
        conn = await asyncpg.connect(source_dsn)
        started = time.monotonic()
        await conn.execute(GENERATE_SQL, rows)
        await conn.execute("ANALYZE events")
        print(f"generated {rows} events in {time.monotonic() - started:.1f}s", flush=True)

        pipe_s, piped = await copy_pipe(source_dsn, warehouse_dsn)
        print(f"(a) COPY pipe: {pipe_s:.2f}s for {piped} rows", flush=True)
        async with open_clients(core) as clients:
            await ensure_bucket(clients.s3, settings.bucket)
            started = time.monotonic()
            full = await sync_table(clients, settings, "events", "full")
            full_s = time.monotonic() - started
            print(f"(b) full sync: {full_s:.2f}s  {full.line()}", flush=True)
            updated = await conn.execute(
                "UPDATE events SET content = 'updated ' || event_id, updated = now()"
                " WHERE event_id % $1 = 0",
                round(1 / update_fraction),
            )
            started = time.monotonic()
            incremental = await sync_table(clients, settings, "events", "incremental")
            incremental_s = time.monotonic() - started
            print(f"(c) incremental ({updated}): {incremental_s:.2f}s  {incremental.line()}")
        await conn.close()
    finally:
        moto.stop()
        claim.release()
        await stack.drop_databases(prefix)
    return (
        f"RESULT sync rows={rows} pipe_s={pipe_s:.2f} full_s={full_s:.2f}"
        f" incremental_s={incremental_s:.2f} incremental_rows={incremental.rows}"
        f" full_vs_pipe={full_s / pipe_s:.2f} incremental_vs_full={incremental_s / full_s:.3f}"
        f" parts={full.parts} gzip_bytes={full.gzip_bytes} raw_bytes={full.raw_bytes}"
        f" {' '.join(f'{k}_s={v:.2f}' for k, v in full.phases_s.items())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="events rows (1,000,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 rows, under a minute")
    parser.add_argument("--update-fraction", type=float, default=0.01, help="rows updated for (c)")
    parser.add_argument("--part-size-mb", type=int, default=32, help="raw CSV MB per part (32)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rows = 50_000 if args.quick else args.rows
    result = asyncio.run(run(rows, args.update_fraction, args.part_size_mb))
    print(result)


if __name__ == "__main__":
    main()
