"""The worker (burst) on real Redis/Postgres: outbox hours of an hour that already ran are
loaded again, an overlapping load is waited for and retried with backoff; and the
``forklift aggregate`` commands (queue, hour, verify, status)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.aggregator.worker import WorkerSettings
from services.main import cli
from shared.cli import run_cli
from shared.queues import connect_queue, enqueue, queue_depth
from shared.settings import CoreSettings
from shared.worker import build_worker
from tests.aggregator.fixture import (
    CAMPAIGN,
    HOUR,
    fact_sums,
    insert_events,
    insert_raw,
    mark_stale,
)


async def _burst(core: CoreSettings) -> list[dict]:
    worker = build_worker(WorkerSettings, core, burst=True, cron_jobs=None)
    with capture_logs() as logs:
        await worker.main()
        await worker.close()
    return logs


async def _sync_says(core: CoreSettings, warehouse: asyncpg.Pool, *hours) -> None:
    """What sync does (the contract): outbox rows in the warehouse, then a wake-up."""
    await mark_stale(warehouse, hours)
    queue = await connect_queue(core.redis_url or "")
    await enqueue(queue, "aggregator", "drain_outbox", "sync:events")
    await queue.aclose()


# sessions of this test's database waiting for an advisory lock
_ADVISORY_WAITERS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _done(logs: list[dict], job: str) -> list[dict]:
    return [e for e in logs if e["event"] == "job.done" and e["job"] == job]


async def test_outbox_hours_are_loaded_again_and_acknowledged(
    core: CoreSettings, warehouse: asyncpg.Pool
) -> None:
    await insert_raw(warehouse)
    await _sync_says(core, warehouse, HOUR)
    logs = await _burst(core)
    done = _done(logs, "aggregate_range")
    assert len(done) == 5 and {e["job_id"] for e in done} >= {"aggregate:visit:2014-02-01T02"}
    assert (await fact_sums(warehouse, "misc", HOUR))["authorizations"] == 3
    assert await warehouse.fetchval("SELECT count(*) FROM aggregate_outbox") == 0

    late = HOUR + timedelta(minutes=45)
    await insert_events(warehouse, [(500, 13, CAMPAIGN, None, "authorized", late)])
    await _sync_says(core, warehouse, HOUR, HOUR + timedelta(hours=1))
    logs = await _burst(core)
    [drained] = _done(logs, "drain_outbox_job")
    assert drained == drained | {"pending": 10, "queued": 5, "source": "sync:events"}
    assert {e["job_id"] for e in _done(logs, "aggregate_range")} >= {
        "aggregate:visit:2014-02-01T02..2014-02-01T04"
    }
    assert (await fact_sums(warehouse, "misc", HOUR))["authorizations"] == 4
    assert (await fact_sums(warehouse, "fbid", HOUR))["fbids_authorized"] == 2
    assert await warehouse.fetchval("SELECT count(*) FROM aggregate_outbox") == 0


async def test_outbox_drain_repeats_until_acknowledged_and_drops_unknown_tables(
    core: CoreSettings, warehouse: asyncpg.Pool
) -> None:
    await insert_raw(warehouse)
    await mark_stale(warehouse, [HOUR], tables=("misc", "gone"))
    queue = await connect_queue(core.redis_url or "")
    for _ in range(2):  # e.g. the cron while the first wake-up's job still waits
        await enqueue(queue, "aggregator", "drain_outbox", "cron")
    await queue.aclose()
    logs = await _burst(core)
    drained = sorted((e["pending"], e["queued"]) for e in _done(logs, "drain_outbox_job"))
    # The hour is queued once: the other drain finds it still pending (its job not done yet)
    # or already acknowledged, depending on which finishes first.
    assert drained in ([(1, 0), (1, 1)], [(0, 0), (1, 1)])
    assert len(_done(logs, "aggregate_range")) == 1
    assert [e for e in logs if e["event"] == "aggregate.outbox.unknown_tables"]
    assert await warehouse.fetchval("SELECT count(*) FROM aggregate_outbox") == 0


async def test_overlapping_load_is_waited_for_then_retried_with_backoff(
    core: CoreSettings, warehouse: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORKLIFT_AGGREGATOR_RETRY_BASE_S", "0.2")
    monkeypatch.setenv("FORKLIFT_AGGREGATOR_LOCK_WAIT_S", "0.2")
    await insert_raw(warehouse)
    queue = await connect_queue(core.redis_url or "")
    end = HOUR + timedelta(hours=1)
    await enqueue(
        queue, "aggregator", "aggregate_range", "visit", HOUR.isoformat(), end.isoformat()
    )
    holder = await asyncpg.connect(core.warehouse_dsn)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute(
        "SELECT pg_advisory_xact_lock(hashtext('aggregate:visit'), $1)",
        int(HOUR.timestamp()) // 3600,
    )

    async def release_once_a_wait_timed_out() -> None:
        """Let go once the worker has waited for the lock and given up (however slow the
        machine), so its retry finds the lock free."""
        waited = False
        try:
            async with asyncio.timeout(60):
                while True:
                    waiting = await warehouse.fetchval(_ADVISORY_WAITERS)
                    if waiting:
                        waited = True
                    elif waited:
                        break
                    await asyncio.sleep(0.02)
        finally:  # never left holding the lock, even when the worker did not wait
            await transaction.rollback()
            await holder.close()

    releaser = asyncio.create_task(release_once_a_wait_timed_out())
    logs = await _burst(core)
    await releaser
    assert [e for e in logs if e["event"] == "aggregate.range.retry"]
    assert (await fact_sums(warehouse, "visit", HOUR))["authorized_visits"] == 3
    assert await queue_depth(queue, "aggregator") == 0
    await queue.aclose()


async def test_cli_queue_collapses_duplicates_and_hour_runs_inline(
    cli_env: dict, warehouse: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["aggregate", "queue", "--days-back", "1", "--table", "visit"]
    assert await asyncio.to_thread(run_cli, cli, args) == 0
    out = capsys.readouterr().out
    # 24 hours ending with the current one: 1 or 2 UTC days (2 batches unless it is 23:xx)
    assert out in (
        "queued 1 jobs (24 hours in 1 batches x 1 tables)\n",
        "queued 2 jobs (24 hours in 2 batches x 1 tables)\n",
    )
    assert await asyncio.to_thread(run_cli, cli, args) == 0
    assert capsys.readouterr().out.startswith("queued 0 jobs (24 hours in")  # collapsed

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
    args = ["aggregate", "queue", "--start-date", "2014-01-31", "--end-date", "2014-02-02"]
    assert await asyncio.to_thread(run_cli, cli, [*args, "--inline", "--table", "misc"]) == 0
    assert capsys.readouterr().out.endswith("loaded 48 hours in 2 batches x 1 tables, 2 rows\n")
    await mark_stale(warehouse, [HOUR])
    assert await asyncio.to_thread(run_cli, cli, ["aggregate", "status"]) == 0
    out = capsys.readouterr().out
    assert "misc_facts_hourly latest=2014-02-01T04:00:00+00:00 rows=2" in out
    assert " outbox=5 " in out and "queued=" in out


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


async def test_cli_queue_wait_follows_the_worker_to_the_end(
    core: CoreSettings, cli_env: dict, warehouse: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    await insert_raw(warehouse)
    args = ["aggregate", "queue", "--start-date", "2014-01-31", "--end-date", "2014-02-03"]
    waiting = asyncio.create_task(asyncio.to_thread(run_cli, cli, [*args, "--wait"]))
    queue = await connect_queue(core.redis_url or "")
    while not await queue_depth(queue, "aggregator"):
        assert not waiting.done()
        await asyncio.sleep(0.05)
    await queue.aclose()
    await asyncio.sleep(1.5)
    assert not waiting.done()  # it waits for the worker
    await _burst(core)
    assert await asyncio.wait_for(waiting, 10) == 0
    captured = capsys.readouterr()
    assert captured.out == "queued 15 jobs (72 hours in 3 batches x 5 tables)\n"
    assert "15/15" in captured.err  # the progress bar reached the end
    assert (await fact_sums(warehouse, "misc", HOUR))["authorizations"] == 3
