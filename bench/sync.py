r"""Benchmark the sync service: a full sync through S3 (moto) and an incremental sync against
the fastest direct pipe between the same two databases, measured in the same run:
``COPY ... TO STDOUT | COPY ... FROM STDIN`` for a Postgres source, the client tools
``mariadb --quick --batch | psql -c '\copy ... FROM STDIN'`` for a MySQL/MariaDB source.

    python bench/sync.py --quick                  # 50,000 rows, well under a minute
    python bench/sync.py --rows 1000000           # the issue's size
    python bench/sync.py --source mysql --quick   # the source in MariaDB (127.0.0.1:3306)

Prints where the time goes, the ratios full/pipe (goal <= 2.0) and incremental/full
(goal <= 0.1), and a last line ``RESULT sync key=value ... source=<postgres|mysql>``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import shutil
import subprocess
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
from shared.mysql import connect_mysql, mysql_params  # noqa: E402
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


# The same rows in MySQL: g from a cross join of digit tables, timestamps over 7 days.
MYSQL_GENERATE_SQL = """
INSERT INTO events (event_id, visit_id, campaign_id, client_content, content, friend_fbid,
    type, activity_id, event_datetime, created, updated)
SELECT g, g DIV 7, 1 + g % 40, 1 + g % 300,
    IF(g % 5 = 0, NULL, CONCAT('campaign ', g % 40, ' content, "shared" ', MD5(g))),
    IF(g % 3 = 0, 100000000000 + g * 13, NULL),
    ELT(1 + g % 6, 'button_load', 'button_click', 'authorized', 'shown', 'shared', 'clickback'),
    IF(g % 4 = 0, g * 31, NULL), ts, ts, ts
FROM (SELECT g, UTC_TIMESTAMP(6) - INTERVAL 7 DAY + INTERVAL (g * 604800 / {rows}) SECOND AS ts
      FROM (SELECT 1 + {digits} AS g FROM {tables}) numbers WHERE g <= {rows}) t
"""
MYSQL_UPDATE_SQL = (
    "UPDATE events SET content = CONCAT('updated ', event_id), updated = UTC_TIMESTAMP(6)"
    " WHERE event_id % {every} = 0"
)


async def mysql_source(prefix: str, rows: int) -> str:
    """A migrated MySQL source database holding ``rows`` events."""
    dsn = await stack.create_mysql_database(f"{prefix}source")
    await migrate_source(dsn)
    places = max(1, math.ceil(math.log10(rows)))
    conn = await connect_mysql(dsn)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("CREATE TABLE bench_digits (d int PRIMARY KEY)")
            values = ", ".join(f"({d})" for d in range(10))
            await cursor.execute(f"INSERT INTO bench_digits VALUES {values}")  # noqa: S608
            digits = " + ".join(f"{10**k} * d{k}.d" for k in range(places))
            tables = ", ".join(f"bench_digits d{k}" for k in range(places))
            await cursor.execute(MYSQL_GENERATE_SQL.format(rows=rows, digits=digits, tables=tables))
            await cursor.execute("DROP TABLE bench_digits")
            await cursor.execute("ANALYZE TABLE events")
            await cursor.fetchall()
            await cursor.execute(
                "SELECT @@innodb_buffer_pool_size, data_length + index_length"
                " FROM information_schema.TABLES"
                " WHERE table_schema = DATABASE() AND table_name = 'events'"
            )
            pool, size = await cursor.fetchone()
            # The incremental export reads rows spread over the whole table: from disk
            # (InnoDB bypasses the OS cache) when the buffer pool cannot hold it.
            note = "" if pool >= size else "; smaller than the table: (c) reads from disk"
            print(f"InnoDB buffer pool {pool / 2**20:.0f} MiB, events {size / 2**20:.0f} MiB{note}")
        await conn.commit()
    finally:
        conn.close()
    return dsn


def mysql_pipe(source_dsn: str, warehouse_dsn: str) -> tuple[float, int]:
    r"""The baseline from the client tools: ``mariadb --quick --batch`` (unbuffered, tab
    separated, NULL as "NULL") piped into ``psql``'s ``\copy ... FROM STDIN``."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None or shutil.which("psql") is None:
        raise SystemExit("the MySQL baseline needs the mariadb (or mysql) and psql clients")
    params = mysql_params(source_dsn)
    columns = ", ".join(EVENTS.column_names)
    dump = [
        client, "--quick", "--batch", "--skip-column-names", f"--host={params.host}",
        f"--port={params.port}", f"--user={params.user}", params.database,
        "--execute", f"SELECT {columns} FROM events",  # noqa: S608
    ]  # fmt: skip
    load = [
        "psql", "--quiet", "--no-psqlrc", "--set=ON_ERROR_STOP=1", warehouse_dsn,
        "--command", f"\\copy events_pipe ({columns}) FROM STDIN WITH (NULL 'NULL')",
    ]  # fmt: skip
    env = {**os.environ, "MYSQL_PWD": params.password, "PGTZ": "UTC"}
    subprocess.run(
        ["psql", "--quiet", "--no-psqlrc", warehouse_dsn, "--command",
         "CREATE TABLE events_pipe (LIKE events INCLUDING ALL)"],
        check=True, env=env,
    )  # fmt: skip
    started = time.monotonic()
    producer = subprocess.Popen(dump, stdout=subprocess.PIPE, env=env)
    consumer = subprocess.run(load, stdin=producer.stdout, capture_output=True, text=True, env=env)
    producer.stdout.close()
    if producer.wait() != 0 or consumer.returncode != 0:
        raise SystemExit(f"pipe failed: {consumer.stderr}")
    seconds = time.monotonic() - started
    count = subprocess.run(
        ["psql", "--no-psqlrc", "-tA", warehouse_dsn, "--command",
         "SELECT count(*) FROM events_pipe; DROP TABLE events_pipe"],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return seconds, int(count.stdout.split()[0])


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


async def run(rows: int, update_fraction: float, part_size_mb: int, source: str) -> str:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        warehouse_dsn = await stack.create_database(f"{prefix}warehouse")
        await migrate_warehouse(warehouse_dsn)
        started = time.monotonic()
        if source == "mysql":
            source_dsn = await mysql_source(prefix, rows)
        else:
            source_dsn = await stack.create_database(f"{prefix}source")
            await migrate_source(source_dsn)
            conn = await asyncpg.connect(source_dsn)
            await conn.execute(GENERATE_SQL, rows)
            await conn.execute("ANALYZE events")
            await conn.close()
        print(f"generated {rows} events in {time.monotonic() - started:.1f}s", flush=True)
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
        if source == "mysql":
            pipe_s, piped = await asyncio.to_thread(mysql_pipe, source_dsn, warehouse_dsn)
            print(f"(a) mariadb | psql pipe: {pipe_s:.2f}s for {piped} rows", flush=True)
        else:
            pipe_s, piped = await copy_pipe(source_dsn, warehouse_dsn)
            print(f"(a) COPY pipe: {pipe_s:.2f}s for {piped} rows", flush=True)
        async with open_clients(core) as clients:
            await ensure_bucket(clients.s3, settings.bucket)
            started = time.monotonic()
            full = await sync_table(clients, settings, "events", "full")
            full_s = time.monotonic() - started
            print(f"(b) full sync: {full_s:.2f}s  {full.line()}", flush=True)
            updated = await update_rows(source, source_dsn, round(1 / update_fraction))
            started = time.monotonic()
            incremental = await sync_table(clients, settings, "events", "incremental")
            incremental_s = time.monotonic() - started
            print(f"(c) incremental ({updated}): {incremental_s:.2f}s  {incremental.line()}")
    finally:
        moto.stop()
        claim.release()
        await stack.drop_databases(prefix)
        if source == "mysql":
            await stack.drop_mysql_databases(prefix)
    return (
        f"RESULT sync rows={rows} pipe_s={pipe_s:.2f} full_s={full_s:.2f}"
        f" incremental_s={incremental_s:.2f} incremental_rows={incremental.rows}"
        f" full_vs_pipe={full_s / pipe_s:.2f} incremental_vs_full={incremental_s / full_s:.3f}"
        f" parts={full.parts} gzip_bytes={full.gzip_bytes} raw_bytes={full.raw_bytes}"
        f" {' '.join(f'{k}_s={v:.2f}' for k, v in full.phases_s.items())}"
        f" source={source}"
    )


async def update_rows(source: str, source_dsn: str, every: int) -> str:
    """Touch every ``every``-th event (content and ``updated``); returns what was done."""
    if source == "mysql":
        conn = await connect_mysql(source_dsn)
        try:
            async with conn.cursor() as cursor:
                count = await cursor.execute(MYSQL_UPDATE_SQL.format(every=every))
            await conn.commit()
        finally:
            conn.close()
        return f"UPDATE {count}"
    conn = await asyncpg.connect(source_dsn)
    try:
        return await conn.execute(
            "UPDATE events SET content = 'updated ' || event_id, updated = now()"
            " WHERE event_id % $1 = 0",
            every,
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="events rows (1,000,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 rows, under a minute")
    parser.add_argument("--update-fraction", type=float, default=0.01, help="rows updated for (c)")
    parser.add_argument("--part-size-mb", type=int, default=32, help="raw CSV MB per part (32)")
    parser.add_argument(
        "--source", choices=["postgres", "mysql"], default="postgres", help="source dialect"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rows = 50_000 if args.quick else args.rows
    result = asyncio.run(run(rows, args.update_fraction, args.part_size_mb, args.source))
    print(result)


if __name__ == "__main__":
    main()
