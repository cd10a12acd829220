"""arq wiring, the job wrapper and heartbeats, with a real Redis and a burst worker."""

from typing import Any

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from shared.heartbeat import Heartbeat, read_service_status
from shared.queues import connect_queue, enqueue, every_minutes, queue_depth
from shared.settings import CoreSettings
from shared.worker import build_worker, job


@job
async def add(ctx: dict[str, Any], a: int, b: int) -> dict[str, int]:
    await ctx["heartbeat"].count("sums")
    return {"total": a + b}


@job
async def explode(ctx: dict[str, Any]) -> None:
    raise ValueError("boom")


class DemoWorker:
    service = "testsvc"
    functions = [add, explode]
    max_tries = 1


async def test_burst_worker_runs_jobs_and_records_outcomes(
    core: CoreSettings, redis: Redis
) -> None:
    queue = await connect_queue(core.redis_url)
    assert await enqueue(queue, "testsvc", "add", 2, 3, job_id="add:1") is not None
    assert await enqueue(queue, "testsvc", "add", 2, 3, job_id="add:1") is None  # collapsed
    await enqueue(queue, "testsvc", "explode")
    assert await queue_depth(queue, "testsvc") == 2

    worker = build_worker(DemoWorker, core, burst=True)
    with capture_logs() as logs:
        await worker.main()
        await worker.close()
    await queue.aclose()

    done = [e for e in logs if e["event"] == "job.done"]
    assert done[0]["job"] == "add" and done[0]["job_id"] == "add:1" and done[0]["total"] == 5
    failed = [e for e in logs if e["event"] == "job.failed"]
    assert failed[0]["job"] == "explode" and failed[0]["error"] == "ValueError: boom"

    [status] = await read_service_status(redis, ["testsvc"])
    assert status.jobs_ok == 1 and status.jobs_failed == 1
    assert status.last_error == "explode: ValueError: boom"
    assert status.counters == {"sums": 1}
    assert status.queue_depth == 0
    assert not status.alive  # the burst worker removed its heartbeat on shutdown
    assert status.lag_s is not None and status.lag_s < 60


async def test_heartbeat_visible_while_alive_and_expires(redis: Redis) -> None:
    beat = Heartbeat(redis, "beater", interval_s=0.2)
    await beat.start()
    [status] = await read_service_status(redis, ["beater"])
    assert status.alive and status.processes[0]["pid"] == beat.pid
    assert await redis.ttl(beat.key) <= 1
    await beat.stop()
    [status] = await read_service_status(redis, ["beater"])
    assert not status.alive


def test_every_minutes_rejects_bad_interval() -> None:
    async def tick(ctx: dict[str, Any]) -> None:
        return None

    assert every_minutes(tick, 10).minute == {0, 10, 20, 30, 40, 50}
    with pytest.raises(ValueError, match="1..60 minutes"):
        every_minutes(tick, 0)


def test_cron_schedule_follows_the_service_settings(
    core: CoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.piwik.worker import WorkerSettings as PiwikWorker
    from services.sync.worker import WorkerSettings as SyncWorker

    monkeypatch.setenv("FORKLIFT_SYNC_INTERVAL_MINUTES", "15")
    monkeypatch.setenv("FORKLIFT_PIWIK_DAILY_HOUR_UTC", "4")
    (sync_all,) = build_worker(SyncWorker, core).cron_jobs
    assert sync_all.name == "sync_all" and sync_all.minute == {0, 15, 30, 45}
    (daily,) = build_worker(PiwikWorker, core).cron_jobs
    assert daily.name == "piwik_daily" and daily.hour == {4}
