"""Benchmark the piwik service on a generated gzip'd combined log in S3 (moto, in its own
process), against the fake Matomo (its own process) and the warehouse:

(a) baseline: stream the object from S3 and gunzip it, counting lines (the I/O floor);
(b) forklift dry-run import (download, parse, build every tracking request);
(c) forklift full import (sent to Matomo, loaded into ``web_hits``, archived);
(d) with ``--reference PATH/import_logs.py``: Matomo's own importer on the same file, in
    the same run, ``--dry-run`` and imported to the same fake Matomo, with the options
    the old tool used (``--enable-http-errors --enable-http-redirects --enable-static
    --enable-bots``), the same recorders and batch size; its hit count is checked too.

    python bench/piwik.py --quick           # 100,000 lines, well under a minute
    python bench/piwik.py --lines 1000000   # the issue's size
    python bench/piwik.py --reference /tmp/mla/import_logs.py

Goals: (b) >= 100,000 lines/s and (c) >= 60,000 lines/s on 1,000,000 lines. Each of (b)
and (c) also prints the CPU a line of the bench's processes and Postgres backends, in all
and by process (forklift, parsers, matomo, postgres, moto): on a shared machine compare
those. Last line: ``RESULT piwik key=value ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
SITE = "shop.example.com"
MAIN_URL = f"https://{SITE}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(argv: list[str], url: str) -> subprocess.Popen:
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return child
        except OSError:
            time.sleep(0.1)
    child.terminate()
    raise RuntimeError(f"{argv[2]} did not start")


def _process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children() -> list[int]:
    """The bench's child processes (parsing processes, the fake Matomo, moto)."""
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rpartition(")")[2].split()[1]) == me:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


CPU_GROUPS = ("forklift", "parsers", "matomo", "postgres", "moto")


async def _cpu_s(pool, matomo: int, moto: int) -> dict[str, float]:
    """CPU seconds used so far by the bench (``forklift``), its parsing processes, the
    fake Matomo, moto and the warehouse's Postgres backends (read from /proc: they run on
    this machine)."""
    backends = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    )
    used = dict.fromkeys(CPU_GROUPS, 0.0)
    used["forklift"] = _process_cpu_s(os.getpid())
    for pid in _children():
        group = {matomo: "matomo", moto: "moto"}.get(pid, "parsers")
        used[group] += _process_cpu_s(pid)
    used["postgres"] = sum(_process_cpu_s(r["pid"]) for r in backends)
    return used


async def _measure(pool, matomo: int, moto: int, phase: str, figures: dict, work) -> Any:
    """Run ``work`` (a coroutine); its seconds, CPU seconds (in all and per group) and
    the load average at its end into ``figures``."""
    cpu, started = await _cpu_s(pool, matomo, moto), time.monotonic()
    result = await work
    figures[f"{phase}_s"] = time.monotonic() - started
    after = await _cpu_s(pool, matomo, moto)
    for group in CPU_GROUPS:
        figures[f"{phase}_cpu_{group}"] = after[group] - cpu[group]
    figures[f"{phase}_cpu"] = sum(after.values()) - sum(cpu.values())
    figures[f"{phase}_load"] = os.getloadavg()[0]
    return result


def _fake(base: str, path: str, body: bytes | None = None) -> dict:
    request = urllib.request.Request(base + path, data=body, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


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


def reference(
    args: argparse.Namespace, matomo: str, path: Path, dry_run: bool
) -> tuple[float, int]:
    """Run import_logs.py on ``path``; (seconds, hits the fake Matomo recorded)."""
    _fake(matomo, "/_fake/reset", b"{}")
    argv = [
        sys.executable,
        args.reference,
        f"--url={matomo}",
        f"--token-auth={DEMO_MATOMO_TOKEN}",
        "--idsite=2",
        f"--recorders={args.recorders}",
        f"--recorder-max-payload-size={args.batch_size}",
        "--enable-http-errors",
        "--enable-http-redirects",
        "--enable-static",
        "--enable-bots",
        *(["--dry-run"] if dry_run else []),
        str(path),
    ]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"import_logs.py failed: {done.stderr[-500:]}")
    hits = 0 if dry_run else _fake(matomo, "/_fake/count")["hits"]
    return seconds, hits


async def run(args: argparse.Namespace) -> str:
    moto_port, matomo_port = _free_port(), _free_port()
    moto = _start(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        f"http://127.0.0.1:{moto_port}/",
    )
    matomo_url = f"http://127.0.0.1:{matomo_port}"
    matomo = _start(
        [
            sys.executable,
            "-m",
            "services.piwik.fake_matomo",
            "--port",
            str(matomo_port),
            "--token",
            DEMO_MATOMO_TOKEN,
            "--main-url",
            f"2={MAIN_URL}",
        ],
        matomo_url + "/",
    )
    prefix = f"bench_piwik_{stack.run_id()}_"
    workdir = tempfile.TemporaryDirectory()
    figures: dict[str, float] = {}
    try:
        warehouse_dsn = await stack.create_database(f"{prefix}warehouse")
        await migrate_warehouse(warehouse_dsn)
        core = CoreSettings(
            warehouse_dsn=warehouse_dsn,
            aws_endpoint_url=f"http://127.0.0.1:{moto_port}",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            _env_file=None,
        )
        sites = Path(workdir.name) / "sites.json"
        site_config = {"name": SITE, "id_site": 2, "prefix": "shop/", "format": "combined"}
        sites.write_text(json.dumps({"sites": [site_config]}))
        settings = PiwikSettings(
            _env_file=None,
            sites_file=sites,
            matomo_url=matomo_url,
            matomo_token=DEMO_MATOMO_TOKEN,
            recorders=args.recorders,
            batch_size=args.batch_size,
            parse_processes=args.processes,
            trigger_archiving=False,
        )
        site = load_sites(sites)[SITE]
        started = time.monotonic()
        text = ("\n".join(combined_lines(DAY, 23 * 3600, args.lines, seed=7)) + "\n").encode()
        body = gzip.compress(text, 6)
        log_path = Path(workdir.name) / "access.log.gz"
        log_path.write_bytes(body)
        del text
        print(
            f"generated {args.lines:,} lines ({len(body):,} gzip bytes) in "
            f"{time.monotonic() - started:.1f}s; load average {os.getloadavg()[0]:.1f}"
            f" on {os.cpu_count()} cores"
        )
        async with open_clients(core, settings) as clients:
            await ensure_bucket(clients.s3, settings.pull_bucket)
            await ensure_bucket(clients.s3, settings.push_bucket)
            await clients.s3.put_object(Bucket=settings.pull_bucket, Key=KEY, Body=body)
            figures["baseline_s"], counted = await baseline(clients, settings.pull_bucket)
            assert counted == args.lines, counted
            measure = partial(_measure, clients.warehouse, matomo.pid, moto.pid)
            dry = await measure(
                "dry_run", figures, import_day(clients, settings, site, DAY.date(), dry_run=True)
            )
            full = await measure("import", figures, import_day(clients, settings, site, DAY.date()))
        assert dry.ok and full.ok and full.count("sent") == full.count("hits"), full.line()
        hits = full.count("hits")
        assert _fake(matomo_url, "/_fake/count")["hits"] == hits
        if args.reference:
            figures["ref_dry_run_s"], _ = reference(args, matomo_url, log_path, dry_run=True)
            figures["ref_import_s"], ref_hits = reference(args, matomo_url, log_path, dry_run=False)
            figures["ref_hits"] = ref_hits
            assert ref_hits == hits, f"import_logs.py sent {ref_hits} hits, forklift {hits}"
    finally:
        for child in (matomo, moto):
            child.terminate()
            child.wait(30)
        workdir.cleanup()
        await stack.drop_databases(prefix)
    return report(args.lines, hits, figures)


def report(lines: int, hits: int, figures: dict[str, float]) -> str:
    base, dry, full = figures["baseline_s"], figures["dry_run_s"], figures["import_s"]
    rates = {name: lines / seconds for name, seconds in figures.items() if name.endswith("_s")}
    print(f"(a) baseline S3 + gunzip:   {base:6.2f}s  {rates['baseline_s']:12,.0f} lines/s")
    cpu_us = {phase: figures[f"{phase}_cpu"] / lines * 1e6 for phase in ("dry_run", "import")}
    print(
        f"(b) forklift dry-run:       {dry:6.2f}s  {rates['dry_run_s']:12,.0f} lines/s"
        f"  (goal >= 100,000 lines/s); {cpu_us['dry_run']:.1f} us CPU a line,"
        f" load average {figures['dry_run_load']:.1f}"
    )
    print(
        f"(c) forklift full import:   {full:6.2f}s  {rates['import_s']:12,.0f} lines/s"
        f"  (goal >= 60,000 lines/s), {hits:,} hits; {cpu_us['import']:.1f} us CPU a line"
        f" (with the fake Matomo and Postgres), load average {figures['import_load']:.1f}"
    )
    for phase in ("dry_run", "import"):
        split = ", ".join(
            f"{group} {figures[f'{phase}_cpu_{group}'] / lines * 1e6:.1f}" for group in CPU_GROUPS
        )
        print(f"    {phase} us CPU a line by process: {split}")
    result = (
        f"RESULT piwik lines={lines} hits={hits} baseline_s={base:.2f} dry_run_s={dry:.2f}"
        f" import_s={full:.2f} dry_run_lines_per_s={rates['dry_run_s']:.0f}"
        f" import_lines_per_s={rates['import_s']:.0f}"
        f" dry_run_over_baseline={dry / base:.1f} import_over_baseline={full / base:.1f}"
        f" dry_run_cpu_us_per_line={cpu_us['dry_run']:.1f}"
        f" import_cpu_us_per_line={cpu_us['import']:.1f}"
        f" load_dry_run={figures['dry_run_load']:.1f} load_import={figures['import_load']:.1f}"
    )
    if "ref_import_s" in figures:
        ref_dry, ref_full = figures["ref_dry_run_s"], figures["ref_import_s"]
        print(
            f"(d) import_logs.py dry-run: {ref_dry:6.2f}s  {rates['ref_dry_run_s']:12,.0f} lines/s"
            f"  forklift {ref_dry / dry:.1f}x as fast"
        )
        print(
            f"    import_logs.py import:  {ref_full:6.2f}s  {rates['ref_import_s']:12,.0f} lines/s"
            f"  forklift {ref_full / full:.1f}x as fast, same {int(figures['ref_hits']):,} hits"
        )
        result += (
            f" ref_dry_run_lines_per_s={rates['ref_dry_run_s']:.0f}"
            f" ref_import_lines_per_s={rates['ref_import_s']:.0f}"
            f" dry_run_speedup={ref_dry / dry:.2f} import_speedup={ref_full / full:.2f}"
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines to generate")
    parser.add_argument("--quick", action="store_true", help="100,000 lines (under a minute)")
    parser.add_argument("--recorders", type=int, default=4, help="concurrent bulk senders")
    parser.add_argument("--batch-size", type=int, default=1000, help="hits per bulk request")
    parser.add_argument("--processes", type=int, default=2, help="parsing processes")
    parser.add_argument(
        "--reference", metavar="IMPORT_LOGS_PY", help="Matomo's import_logs.py, run beside"
    )
    args = parser.parse_args()
    if args.quick:
        args.lines = 100_000
    if args.reference and not Path(args.reference).is_file():
        parser.error(f"--reference: no such file {args.reference}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
