"""Real ``forklift rainforest poll`` processes for the hand-over test and
``bench/rainforest.py``: start them, wait until the shards are held, stop them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from redis.asyncio import Redis

from services.rainforest.membership import read_leases

ROOT = Path(__file__).resolve().parents[2]


def start_poller(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services", "rainforest", "poll"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def wait_for_holders(redis: Redis, shards: int, count: int, timeout_s: float = 30) -> float:
    """Until every shard is held and by ``count`` pollers; returns when (time.time())."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        leases = await read_leases(redis, shards)
        if len(leases) == shards and len(set(leases.values())) == count:
            return time.time()
        await asyncio.sleep(0.1)
    raise AssertionError(f"shards not held by {count} pollers: {Counter(leases.values())}")


async def stop_pollers(
    processes: list[subprocess.Popen | None], timeout_s: float
) -> list[int | None]:
    """SIGTERM every running poller; their exit codes (None: killed after ``timeout_s``).
    Waited for off the loop, so a simulator on it serves their last polls meanwhile."""
    running = [p for p in processes if p is not None]
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    for process in running:
        try:
            codes.append(await asyncio.to_thread(process.wait, timeout_s))
        except subprocess.TimeoutExpired:
            process.kill()  # never leave a poller behind
            codes.append(None)
    return codes
