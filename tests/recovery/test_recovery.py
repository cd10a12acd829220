"""Recovery with real processes: a SIGKILLed worker's job is run by another worker within
seconds (not arq's job timeout), and a worker rides out a Redis outage with one log line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from shared.embedded import free_port, start_redis
from shared.heartbeat import HEARTBEAT_PREFIX, RUNNING_PREFIX
from shared.queues import connect_queue, enqueue
from shared.recovery import Reaper
from shared.settings import CoreSettings
from tests.recovery.worker_app import SERVICE

ROOT = Path(__file__).resolve().parents[2]
BEAT_S = 0.5  # heartbeat period of the test workers: dead after 3 missed beats


def _start_worker(redis_url: str, log: Path) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT_")},
        "FORKLIFT_REDIS_URL": redis_url,
        "FORKLIFT_HEARTBEAT_INTERVAL_S": str(BEAT_S),
        "FORKLIFT_REDIS_RETRY_S": "120",
        "FORKLIFT_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.recovery.worker_app"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _wait_for(redis: Redis, key: str, count: int, timeout_s: float) -> float:
    """Seconds until list ``key`` holds ``count`` items (fails after ``timeout_s``)."""
    started = time.monotonic()
    while await redis.llen(key) < count:
        assert time.monotonic() - started < timeout_s, f"{key} never reached {count}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def test_reaper_releases_only_workers_dead_for_a_heartbeat_lifetime(redis: Redis) -> None:
    for instance in ("dead:1:a", "alive:2:b"):
        await redis.hset(f"{RUNNING_PREFIX}svc:{instance}", f"job-{instance}", 1)
        await redis.set(in_progress_key_prefix + f"job-{instance}", 1)
    await redis.set(f"{HEARTBEAT_PREFIX}svc:alive:2:b", 1)
    reaper = Reaper(redis, "svc", grace_s=0.3, interval_s=0.1)
    assert await reaper.sweep() == []  # missing once: maybe only late
    await asyncio.sleep(0.35)
    assert await reaper.sweep() == ["job-dead:1:a"]
    assert not await redis.exists(in_progress_key_prefix + "job-dead:1:a")
    assert await redis.exists(in_progress_key_prefix + "job-alive:2:b")
    assert not await redis.exists(f"{RUNNING_PREFIX}svc:dead:1:a")


@pytest.mark.timeout(120)
async def test_job_of_a_killed_worker_runs_elsewhere_within_seconds(
    core: CoreSettings, redis: Redis, workers: list[subprocess.Popen], tmp_path: Path
) -> None:
    queue = await connect_queue(core.redis_url)
    first = _start_worker(core.redis_url, tmp_path / "first.log")
    workers.append(first)
    await enqueue(queue, SERVICE, "slow", "a", 30.0, job_id="slow:a")
    await _wait_for(redis, "recoverytest:a:started", 1, timeout_s=30)
    second = _start_worker(core.redis_url, tmp_path / "second.log")
    workers.append(second)
    await asyncio.sleep(2)  # the second worker is up (and must not take the running job)
    assert await redis.llen("recoverytest:a:started") == 1
    first.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await _wait_for(redis, "recoverytest:a:started", 2, timeout_s=60)
    recovery_s = time.monotonic() - killed
    assert int(await redis.lindex("recoverytest:a:started", 1)) == second.pid
    assert recovery_s < 15, f"recovered in {recovery_s:.1f}s"
    await queue.aclose()


@pytest.mark.timeout(180)
async def test_worker_rides_out_a_redis_outage(
    workers: list[subprocess.Popen], tmp_path: Path
) -> None:
    port = free_port()
    server, url = start_redis(tmp_path / "redis", port)
    log = tmp_path / "worker.log"
    worker = _start_worker(url, log)
    workers.append(worker)
    redis = Redis.from_url(url)
    queue = await connect_queue(url)
    await enqueue(queue, SERVICE, "slow", "before", 0.0)
    await _wait_for(redis, "recoverytest:before:done", 1, timeout_s=30)
    await queue.aclose()
    await redis.aclose()

    server.terminate()
    server.wait_stopped(timeout_s=10)
    lines_before = len(log.read_text().splitlines())
    await asyncio.sleep(6)
    assert worker.poll() is None, log.read_text()[-2000:]
    server = start_redis(tmp_path / "redis", port)[0]
    try:
        redis = Redis.from_url(url)
        queue = await connect_queue(url)
        await enqueue(queue, SERVICE, "slow", "after", 0.0)
        await _wait_for(redis, "recoverytest:after:done", 1, timeout_s=60)
        await queue.aclose()
        await redis.aclose()
    finally:
        server.terminate()
        server.wait_stopped(timeout_s=10)
    outage = log.read_text().splitlines()[lines_before:]
    assert not any("Traceback" in line for line in outage), "\n".join(outage[:40])
    lost = [line for line in outage if '"worker.redis_lost"' in line]
    assert 1 <= len(lost) <= 6, "\n".join(outage[:40])  # one line per retry, with backoff
    assert len(outage) < 40, "\n".join(outage[:40])
