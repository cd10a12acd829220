"""The worker (burst) on real Redis/Postgres: late-data re-queue of an hour that already ran,
a held lock retried with backoff; and the ``forklift aggregate`` commands."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from services.aggregator.hours import job_id
from services.aggregator.worker import WorkerSettings
from services.main import cli
from shared.cli import run_cli
from shared.facts import fact_table
from shared.queues import connect_queue, enqueue, queue_depth
from shared.settings import CoreSettings
from shared.worker import build_worker
from tests.aggregator.fixture import CAMPAIGN, HOUR, fact_sums, insert_events, insert_raw


async def _burst(core: CoreSettings) -> list[dict]:
    worker = build_worker(WorkerSettings, core, burst=True, cron_jobs=None)
    with capture_logs() as logs:
        await worker.main()
        await worker.close()
    return logs


async def _sync_says(core: CoreSettings, *hours: str) -> None:
    """What sync sends after loading events (the contract)."""
    queue = await connect_queue(core.redis_url or "")
    await enqueue(queue, "aggregator", "requeue_hours", list(hours), "sync:events")
    await queue.aclose()


async def test_late_data_requeues_an_hour_that_already_ran(
    core: CoreSettings, warehouse: asyncpg.Pool
) -> None:
    await insert_raw(warehouse)
    await _sync_says(core, HOUR.isoformat())
    logs = await _burst(core)
    done = [e for e in logs if e["event"] == "job.done" and e["job"] == "aggregate_hour"]
    assert len(done) == 5 and {e["job_id"] for e in done} >= {"aggregate:visit:2014-02-01T02"}
    assert (await fact_sums(warehouse, "misc", HOUR))["authorizations"] == 3

    late = HOUR + timedelta(minutes=45)
    await insert_events(warehouse, [(500, 13, CAMPAIGN, None, "authorized", late)])
    await _sync_says(core, "2014-02-01T02:00:00+00:00")
    logs = await _burst(core)
    requeued = [e for e in logs if e["event"] == "job.done" and e["job"] == "requeue_hours"]
    assert requeued[0]["queued"] == 5 and requeued[0]["source"] == "sync:events"
    assert (await fact_sums(warehouse, "misc", HOUR))["authorizations"] == 4
    assert (await fact_sums(warehouse, "fbid", HOUR))["fbids_authorized"] == 2


async def test_held_lock_is_retried_with_backoff(
    core: CoreSettings, warehouse: asyncpg.Pool, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORKLIFT_AGGREGATOR_RETRY_BASE_S", "0.2")
    await insert_raw(warehouse)
    visit = fact_table("visit")
    lock = redis.lock(f"forklift:lock:{job_id(visit, HOUR)}", timeout=30)
    assert await lock.acquire()
    queue = await connect_queue(core.redis_url or "")
    await enqueue(queue, "aggregator", "aggregate_hour", "visit", HOUR.isoformat())

    async def release_soon() -> None:
        await asyncio.sleep(0.3)
        await lock.release()

    releaser = asyncio.create_task(release_soon())
    logs = await _burst(core)
    await releaser
    assert [e for e in logs if e["event"] == "aggregate.hour.retry"]
    assert (await fact_sums(warehouse, "visit", HOUR))["authorized_visits"] == 3
    assert await queue_depth(queue, "aggregator") == 0
    await queue.aclose()


async def test_cli_queue_collapses_duplicates_and_hour_runs_inline(
    cli_env: dict, warehouse: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(run_cli, cli, ["aggregate", "queue"]) == 0
    assert capsys.readouterr().out == "queued 10 jobs (2 hours x 5 tables)\n"
    args = ["aggregate", "queue", "--days-back", "1", "--table", "visit"]
    assert await asyncio.to_thread(run_cli, cli, args) == 0
    assert capsys.readouterr().out == "queued 22 jobs (24 hours x 1 tables)\n"  # 2 were queued

    await insert_raw(warehouse)
    code = await asyncio.to_thread(run_cli, cli, ["aggregate", "hour", "2014-02-01T02"])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "fbid_facts_hourly 2014-02-01T02 rows=2",
        "friend_fbid_facts_hourly 2014-02-01T02 rows=1",
        "visit_facts_hourly 2014-02-01T02 rows=4",
        "ip_facts_hourly 2014-02-01T02 rows=4",
        "misc_facts_hourly 2014-02-01T02 rows=1",
    ]
    args = ["aggregate", "queue", "--start-date", "2014-02-01", "--end-date", "2014-02-02"]
    assert await asyncio.to_thread(run_cli, cli, [*args, "--inline", "--table", "misc"]) == 0
    assert capsys.readouterr().out.endswith("loaded 24 hours x 1 tables, 2 rows\n")
    assert await asyncio.to_thread(run_cli, cli, ["aggregate", "status"]) == 0
    out = capsys.readouterr().out
    assert "misc_facts_hourly latest=2014-02-01T04:00:00+00:00 rows=2" in out
    assert "queued=32 " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--end-date", "2026-01-01"], "--end-date needs --start-date"),
        (["--start-date", "2026-02-01", "--end-date", "2026-01-01"], "must be after"),
        (["--days-back", "2", "--start-date", "2026-01-01"], "cannot be combined"),
        (["--start-date", "2999-01-01"], "in the future"),
        (["--start-date", "01/02/2026"], "malformed date"),
        (["--table", "nope"], "unknown fact table 'nope'"),
    ],
)
def test_cli_queue_errors_exit_2(args, message, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli, ["aggregate", "queue", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("forklift: error: ") and message in err and err.count("\n") == 1
