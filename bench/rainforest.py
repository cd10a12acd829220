"""Benchmark: how many users one rainforest poller process keeps on a 6 s cadence.

The EAGLE simulator runs in a separate process; users are registered in a claimed Redis db;
the poller (with logging to a temp dir and Redis counters) runs for a few periods per size.
Lateness = how late each poll starts against its due time. The largest size with p99
lateness < 1 s and >= 98% of the due polls done (run and succeeded) is the result. Baseline, measured in the same run: the same number of bare
aiohttp requests to the simulator with no logging; the ratio is the poller's CPU seconds per
poll over the baseline's CPU seconds per request (its overhead factor).

    python bench/rainforest.py --quick
    python bench/rainforest.py --sizes 1000,3000,5000,8000 --periods 3
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.rainforest.adapters import RELAY_COMMAND  # noqa: E402
from services.rainforest.logfiles import LogWriter  # noqa: E402
from services.rainforest.poller import Poller, Recorder  # noqa: E402
from services.rainforest.settings import RainforestSettings  # noqa: E402
from services.rainforest.simulator import device_credentials  # noqa: E402
from services.rainforest.users import UserStore  # noqa: E402
from tests.stack import RedisClaim  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_simulator(devices: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "services.rainforest.simulator",
        "--port",
        str(port),
        "--devices",
        str(devices),
    ]
    process = subprocess.Popen(argv, cwd=Path(__file__).resolve().parent.parent)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("simulator did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def baseline(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """CPU seconds per bare relay request (no parsing, no logging) and requests per second
    (the simulator's capacity: above it no poller can keep up)."""
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(index: int) -> None:
            cloud_id, user, secret = device_credentials(index)
            headers = {"Cloud-ID": cloud_id, "User": user, "Password": secret}
            async with (
                semaphore,
                session.post(
                    f"{url}/cgi-bin/post_manager", data=RELAY_COMMAND, headers=headers
                ) as r,
            ):
                await r.text()

        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.gather(*(one(i) for i in range(requests)))
        return (time.process_time() - cpu) / requests, requests / (time.monotonic() - wall)


async def run_size(
    redis: Redis, url: str, users: int, periods: int, log_dir: Path
) -> dict[str, float]:
    await redis.flushdb()
    settings = RainforestSettings(
        encryption_key=Fernet.generate_key().decode(), relay_url=url, log_dir=log_dir,
        concurrency=500, _env_file=None,
    )  # fmt: skip
    store = UserStore(redis, settings.fernet())
    for index in range(users):
        cloud_id, user, secret = device_credentials(index)
        await store.upsert(cloud_id, {"user_email": user, "user_pw": secret, "adapter": "cloud"})
    recorder = Recorder(
        store, LogWriter(log_dir, settings.max_open_files), settings.flush_interval_s
    )
    recorder.start()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.concurrency)
    ) as session:
        poller = Poller(settings, store, recorder, session)
        poller.start()
        await asyncio.sleep(settings.poll_period_s)  # first period: starts spread out
        poller.lateness_s.clear()
        poller.failed_polls = 0
        cpu = time.process_time()
        await asyncio.sleep(settings.poll_period_s * periods)
        cpu_s = time.process_time() - cpu
        lateness = list(poller.lateness_s)
        failed = poller.failed_polls
        await poller.stop()
    await recorder.close()
    return {
        "users": users,
        "polls": len(lateness),
        "failed": failed,
        # share of the polls due in the window that ran and succeeded
        "on_time_share": (len(lateness) - failed) / (users * periods),
        "p50_s": statistics.median(lateness) if lateness else float("nan"),
        "p99_s": percentile(lateness, 0.99),
        "cpu_per_poll_s": cpu_s / max(1, len(lateness)),
    }


def kept_up(result: dict[str, float]) -> bool:
    """On cadence: p99 lateness < 1 s and at least 98% of due polls ran and succeeded."""
    return result["p99_s"] < 1.0 and result["on_time_share"] >= 0.98


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    process, url = start_simulator(max(sizes))
    claim = RedisClaim.claim()
    redis = Redis.from_url(claim.url)
    try:
        base_cpu, base_rps = await baseline(url, args.baseline_requests, 100)
        print(
            f"baseline: {base_cpu * 1e6:.0f} us CPU per bare request, {base_rps:.0f} requests/s "
            f"(= {base_rps * 6:.0f} users at 6 s if the simulator were the only limit)"
        )
        results = {}
        for users in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                result = await run_size(redis, url, users, args.periods, Path(tmp))
            results[users] = result
            print(
                f"users={users} polls={result['polls']} failed={result['failed']} "
                f"done={result['on_time_share']:.1%} p50={result['p50_s'] * 1000:.1f}ms "
                f"p99={result['p99_s'] * 1000:.1f}ms cpu/poll={result['cpu_per_poll_s'] * 1e6:.0f}us"
            )
            if not kept_up(result):
                break
        await redis.flushdb()
    finally:
        await redis.aclose()
        claim.release()
        process.terminate()
        process.wait(10)
    passing = [u for u, r in results.items() if kept_up(r)]
    best = max(passing) if passing else 0
    first = results[sizes[0]]
    top = results.get(best, first)
    ratio = top["cpu_per_poll_s"] / base_cpu
    print(
        f"max users on cadence (p99 < 1 s): {best}; poller CPU per poll / bare request = {ratio:.2f}x"
    )
    print(
        f"RESULT rainforest max_users={best} p50_ms_at_{sizes[0]}={first['p50_s'] * 1000:.1f} "
        f"p99_ms_at_{sizes[0]}={first['p99_s'] * 1000:.1f} p50_ms_at_max={top['p50_s'] * 1000:.1f} "
        f"p99_ms_at_max={top['p99_s'] * 1000:.1f} done_at_max={top['on_time_share']:.3f} cpu_ratio={ratio:.2f} baseline_us={base_cpu * 1e6:.0f} "
        f"baseline_rps={base_rps:.0f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1000,2000,3000,5000,7000,10000", help="user counts to try, ascending"
    )
    parser.add_argument("--periods", type=int, default=3, help="6 s periods measured per size")
    parser.add_argument("--baseline-requests", type=int, default=3000)
    parser.add_argument(
        "--quick", action="store_true", help="small run: 1000 and 2000 users, 1 period"
    )
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.sizes, parsed.periods, parsed.baseline_requests = "1000,2000", 1, 1000
    asyncio.run(main(parsed))
