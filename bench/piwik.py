"""Benchmark the piwik service on a generated gzip'd combined log in S3 (moto):

(a) baseline: stream the object from S3 and gunzip it, counting lines (the I/O floor);
(b) dry-run import (parse + build the tracking requests);
(c) full import to the fake Matomo (its own process) and ``web_hits``.

    python bench/piwik.py --quick           # 100,000 lines, well under a minute
    python bench/piwik.py --lines 1000000   # the issue's size

Goals: (b) >= 100,000 lines/s, (c) >= 50,000 lines/s (Matomo's import_logs.py on this
machine kind: 42,660 dry-run, 18,420 import). Last line: ``RESULT piwik key=value ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import structlog
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.migrations import migrate_warehouse  # noqa: E402
from services.piwik.clients import open_clients  # noqa: E402
from services.piwik.importer import import_day  # noqa: E402
from services.piwik.s3logs import ensure_bucket  # noqa: E402
from services.piwik.samples import combined_lines  # noqa: E402
from services.piwik.settings import PiwikSettings  # noqa: E402
from services.piwik.sites import load_sites  # noqa: E402
from shared.demo import DEMO_MATOMO_TOKEN  # noqa: E402
from shared.settings import CoreSettings  # noqa: E402
from tests import stack  # noqa: E402

DAY = datetime(2026, 11, 20, tzinfo=UTC)
KEY = "shop/access.log.gz"


def start_fake_matomo(port: int) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "services.piwik.fake_matomo",
        "--port",
        str(port),
        "--token",
        DEMO_MATOMO_TOKEN,
    ]
    child = subprocess.Popen(argv, cwd=Path(__file__).resolve().parent.parent)
    for _ in range(100):
        try:
            import urllib.request

            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            return child
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("fake Matomo did not start")


async def baseline(clients, bucket: str) -> tuple[float, int]:
    """Stream the object and gunzip it incrementally, counting lines."""
    started = time.monotonic()
    response = await clients.s3.get_object(Bucket=bucket, Key=KEY)
    inflate = zlib.decompressobj(wbits=31)
    lines = 0
    async for chunk in response["Body"].iter_chunks(1 << 20):
        lines += inflate.decompress(chunk).count(b"\n")
    lines += inflate.flush().count(b"\n")
    return time.monotonic() - started, lines


async def run(args: argparse.Namespace) -> str:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    prefix = f"bench_piwik_{stack.run_id()}_"
    matomo_port = 18000 + int(time.time()) % 1000
    matomo = start_fake_matomo(matomo_port)
    workdir = tempfile.TemporaryDirectory()
    try:
        warehouse_dsn = await stack.create_database(f"{prefix}warehouse")
        await migrate_warehouse(warehouse_dsn)
        core = CoreSettings(
            warehouse_dsn=warehouse_dsn,
            aws_endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            _env_file=None,
        )
        sites = Path(workdir.name) / "sites.json"
        sites.write_text(
            json.dumps(
                {
                    "sites": [
                        {
                            "name": "shop.example.com",
                            "id_site": 2,
                            "prefix": "shop/",
                            "format": "combined",
                        }
                    ]
                }
            )
        )
        settings = PiwikSettings(
            _env_file=None,
            sites_file=sites,
            matomo_url=f"http://127.0.0.1:{matomo_port}",
            matomo_token=DEMO_MATOMO_TOKEN,
            recorders=args.recorders,
            batch_size=args.batch_size,
            parse_processes=args.processes,
            trigger_archiving=False,
        )
        site = load_sites(sites)["shop.example.com"]
        started = time.monotonic()
        body = gzip.compress(
            ("\n".join(combined_lines(DAY, 23 * 3600, args.lines, seed=7)) + "\n").encode(), 1
        )
        print(
            f"generated {args.lines:,} lines ({len(body):,} gzip bytes) in "
            f"{time.monotonic() - started:.1f}s"
        )
        async with open_clients(core, settings) as clients:
            await ensure_bucket(clients.s3, settings.pull_bucket)
            await ensure_bucket(clients.s3, settings.push_bucket)
            await clients.s3.put_object(Bucket=settings.pull_bucket, Key=KEY, Body=body)
            base_s, counted = await baseline(clients, settings.pull_bucket)
            assert counted == args.lines, counted
            dry = await import_day(clients, settings, site, DAY.date(), dry_run=True)
            full = await import_day(clients, settings, site, DAY.date())
        assert full.ok and full.count("sent") == full.count("hits"), full.line()
    finally:
        matomo.terminate()
        matomo.wait(10)
        moto.stop()
        workdir.cleanup()
        await stack.drop_databases(prefix)
    n = args.lines
    base_rate, dry_rate, full_rate = n / base_s, n / dry.seconds, n / full.seconds
    print(f"(a) baseline S3 + gunzip: {base_s:6.2f}s  {base_rate:12,.0f} lines/s")
    print(
        f"(b) dry-run import:       {dry.seconds:6.2f}s  {dry_rate:12,.0f} lines/s"
        f"  b/a = {dry.seconds / base_s:.1f}x the floor (goal >= 100,000 lines/s)"
    )
    print(
        f"(c) full import:          {full.seconds:6.2f}s  {full_rate:12,.0f} lines/s"
        f"  c/a = {full.seconds / base_s:.1f}x the floor (goal >= 50,000 lines/s)"
    )
    return (
        f"RESULT piwik lines={n} baseline_s={base_s:.2f} dry_run_s={dry.seconds:.2f}"
        f" import_s={full.seconds:.2f} baseline_lines_per_s={base_rate:.0f}"
        f" dry_run_lines_per_s={dry_rate:.0f} import_lines_per_s={full_rate:.0f}"
        f" b_over_a={dry.seconds / base_s:.2f} c_over_a={full.seconds / base_s:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines to generate")
    parser.add_argument("--quick", action="store_true", help="100,000 lines (under a minute)")
    parser.add_argument("--recorders", type=int, default=4, help="concurrent bulk senders")
    parser.add_argument("--batch-size", type=int, default=1000, help="hits per bulk request")
    parser.add_argument("--processes", type=int, default=2, help="parsing processes")
    args = parser.parse_args()
    if args.quick:
        args.lines = 100_000
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
