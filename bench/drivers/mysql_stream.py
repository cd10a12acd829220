"""How the sync's MySQL driver was chosen: stream a 1,000,000-row ``events`` table through
each maintained asyncio MySQL driver's unbuffered cursor and time it, and watch memory when
the consumer is slower than the server (as when S3 uploads lag).

Not part of ``make bench`` (it needs the drivers that lost installed too):

    pip install -c constraints.txt aiomysql==0.3.2 mysql-connector-python==26.10.0
    python bench/drivers/mysql_stream.py            # 1,000,000 rows in MariaDB 127.0.0.1
    python bench/drivers/mysql_stream.py --quick    # 50,000 rows

Two shapes per driver: ``rows`` (every column converted to Python values, what a naive
exporter would turn into CSV itself) and ``line`` (one CSV line per row rendered by the
server, what forklift streams), each timed ``--repeat`` times (3) with the drivers taking
turns, the best time kept (the machine is shared: the minimum is the least disturbed). Then
``slow``: 40 batches of 10,000 lines read with a 2 s pause after every 5, reporting how
much the process's peak RSS grew. Ends with one line ``RESULT mysql_drivers key=value ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from services.sync.mysql_types import mysql_column, row_select_sql  # noqa: E402
from shared.mysql import mysql_params  # noqa: E402
from shared.mysql_schema import mysql_type  # noqa: E402
from shared.source_schema import EVENTS  # noqa: E402
from tests import stack  # noqa: E402

BATCH = 10_000


def _bench_sync() -> Any:
    spec = importlib.util.spec_from_file_location("bench_sync", ROOT / "bench" / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _queries() -> dict[str, str]:
    columns = [mysql_column("events", c.name, mysql_type(c.type)) for c in EVENTS.columns]
    line, _ = row_select_sql("events", columns)
    rows = f"SELECT {', '.join(EVENTS.column_names)} FROM events"  # noqa: S608
    return {"rows": rows, "line": line}


async def _asyncmy(kw: dict, sql: str, raw: bool, pause: bool) -> int:
    import asyncmy
    from asyncmy.cursors import SSCursor

    conn = await asyncmy.connect(**kw, use_unicode=not raw)
    try:
        cursor = conn.cursor(SSCursor)
        await cursor.execute(sql)
        return await _drain(cursor.fetchmany, pause)
    finally:
        conn.close()


async def _aiomysql(kw: dict, sql: str, raw: bool, pause: bool) -> int:
    import aiomysql

    kw = dict(kw)
    kw["db"] = kw.pop("database")
    conn = await aiomysql.connect(**kw, use_unicode=not raw)
    try:
        cursor = await conn.cursor(aiomysql.SSCursor)
        await cursor.execute(sql)
        return await _drain(cursor.fetchmany, pause)
    finally:
        conn.close()


async def _connector(kw: dict, sql: str, raw: bool, pause: bool) -> int:
    from mysql.connector.aio import connect

    conn = await connect(**kw, ssl_disabled=True)
    try:
        cursor = await conn.cursor(raw=raw)
        await cursor.execute(sql)
        return await _drain(cursor.fetchmany, pause)
    finally:
        await conn.close()


async def _drain(fetchmany: Callable[[int], Awaitable[list]], pause: bool) -> int:
    rows = batches = 0
    while batch := await fetchmany(BATCH):
        rows += len(batch)
        batches += 1
        if pause and batches % 5 == 0:
            await asyncio.sleep(2.0)
            if batches == 40:
                break
    return rows


DRIVERS = {"asyncmy": _asyncmy, "aiomysql": _aiomysql, "mysql-connector": _connector}
MODULES = {"asyncmy": "asyncmy", "aiomysql": "aiomysql", "mysql-connector": "mysql.connector"}


def _installed(name: str) -> bool:
    return importlib.util.find_spec(MODULES[name]) is not None


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _measure(name: str, dsn: str, shape: str, sql: str) -> float:
    params = mysql_params(dsn)
    kw = {k: v for k, v in params.connect_kwargs().items() if k not in ("ssl", "autocommit")}
    kw.pop("init_command")
    started = time.monotonic()
    rows = await DRIVERS[name](kw, sql, shape != "rows", shape == "slow")
    seconds = time.monotonic() - started
    print(f"{name:16} {shape:5} {rows:>9} rows {seconds:7.2f}s", flush=True)
    return seconds


async def run(rows: int, repeat: int) -> str:
    prefix = f"fldrivers_{stack.run_id()}_"
    results: list[str] = []
    try:
        dsn = await _bench_sync().mysql_source(prefix, rows)
        queries = _queries()
        drivers = [name for name in DRIVERS if _installed(name)]
        for name in sorted(set(DRIVERS) - set(drivers)):
            print(f"{name:16} not installed, skipped")
        best: dict[str, float] = {}
        for _ in range(repeat):
            for shape in ("rows", "line"):
                for name in drivers:
                    key = f"{name.replace('-', '_')}_{shape}_s"
                    seconds = await _measure(name, dsn, shape, queries[shape])
                    best[key] = min(seconds, best.get(key, seconds))
        results.extend(f"{key}={seconds:.2f}" for key, seconds in best.items())
        # Memory last, each driver in its own process: peak RSS is per process.
        for name in DRIVERS:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--slow", name, "--dsn", dsn,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await proc.communicate()
            if out.strip():
                print(out.decode().strip())
                growth = out.split()[-2].decode()
                results.append(f"{name.replace('-', '_')}_slow_rss_growth_mb={growth}")
    finally:
        await stack.drop_mysql_databases(prefix)
    return f"RESULT mysql_drivers rows={rows} " + " ".join(results)


async def _slow(name: str, dsn: str) -> None:
    if not _installed(name):
        return
    before = _peak_mb()
    await _measure(name, dsn, "slow", _queries()["line"])
    print(f"{name:16} slow  peak RSS grew by {_peak_mb() - before:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="timings per driver and shape")
    parser.add_argument("--slow", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.slow:
        asyncio.run(_slow(args.slow, args.dsn))
        return
    rows, repeat = (50_000, 1) if args.quick else (args.rows, args.repeat)
    print(asyncio.run(run(rows, repeat)))


if __name__ == "__main__":
    main()
