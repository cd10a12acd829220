"""The ``forklift sync`` commands, the burst worker, and a ``kill -9`` during load."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.main import cli
from services.sync.runner import SyncClients, sync_table
from services.sync.worker import WorkerSettings
from shared.cli import run_cli
from shared.queues import connect_queue, enqueue
from shared.settings import CoreSettings
from shared.worker import build_worker
from tests.sync.helpers import assert_equal_to_source, seed_events, sync_settings

# A COPY into the staging table is running: the process is in its load phase.
LOADING_SQL = """
SELECT count(*) > 0 FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active'
  AND query LIKE 'COPY "events__sync_staging"%'
"""
SYNC_ENV = {
    "FORKLIFT_SYNC_BUCKET": "forklift-sync-tests",
    "FORKLIFT_SYNC_TABLES": '["events", "clients"]',
    "FORKLIFT_SYNC_MODES": '{"events": "incremental"}',
}


@pytest.fixture
def sync_env(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, prefix: str) -> dict:
    env = {**cli_env, **SYNC_ENV, "FORKLIFT_SYNC_PREFIX": prefix}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_cli_unknown_table_exits_2_with_the_configured_list(
    sync_env: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(cli, ["sync", "table", "nope"]) == 2
    assert capsys.readouterr().err == (
        "forklift: error: unknown table 'nope'; configured tables: events, clients\n"
    )


async def test_cli_table_and_all_print_one_line_per_table(
    clients: SyncClients, source: asyncpg.Pool, sync_env: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed_events(source, 100)
    code = await asyncio.to_thread(run_cli, cli, ["sync", "table", "events", "--mode", "full"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("events: full rows=100 raw_bytes=")
    assert " parts=1 export=" in out and " swap=" in out
    code = await asyncio.to_thread(run_cli, cli, ["sync", "all"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split(" rows=")[0] for line in lines] == ["events: incremental", "clients: full"]


async def test_cli_all_exits_1_naming_a_failed_table(
    clients: SyncClients,
    sync_env: dict,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FORKLIFT_SYNC_TABLES", '["events", "ghosts"]')
    code = await asyncio.to_thread(run_cli, cli, ["sync", "all"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines()[-1] == (
        "ghosts: FAILED SchemaMismatch: ghosts: no such table in the source database"
    )
    assert captured.out.startswith("events: full rows=0")


def test_cli_source_down_is_one_clear_line(
    sync_env: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORKLIFT_SOURCE_DSN", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert run_cli(cli, ["sync", "table", "events"]) == 1
    assert capsys.readouterr().err.startswith("forklift: error: source database unreachable: ")


async def test_burst_worker_syncs_at_startup_and_runs_queued_jobs(
    core: CoreSettings,
    clients: SyncClients,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    sync_env: dict,
) -> None:
    await seed_events(source, 500)
    queue = await connect_queue(core.redis_url or "")
    await enqueue(queue, "sync", "sync_table", "events", "full", job_id="sync:events")
    worker = build_worker(WorkerSettings, core, burst=True)
    with capture_logs() as logs:
        await worker.main()
        await worker.close()
    await queue.aclose()
    jobs = {e["job"]: e for e in logs if e["event"] == "job.done"}
    assert jobs["sync_all_job"]["tables"] == 2
    assert jobs["sync_table_job"]["rows"] == 500
    assert await assert_equal_to_source(source, warehouse, "events") == 500


async def test_kill_9_during_load_leaves_live_table_and_next_run_completes(
    clients: SyncClients,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    sync_env: dict,
    prefix: str,
) -> None:
    await seed_events(source, 1000)
    await sync_table(clients, sync_settings(prefix), "events", "full")
    await seed_events(source, 150_000, start_id=10_000)
    env = {
        **os.environ,
        **sync_env,
        "FORKLIFT_SYNC_LOCK_TTL_S": "1",
        "FORKLIFT_SYNC_PART_SIZE_BYTES": str(1024 * 1024),
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services", "sync", "table", "events", "--mode", "full"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not await warehouse.fetchval(LOADING_SQL):
            assert time.monotonic() < deadline and process.returncode is None
            await asyncio.sleep(0.01)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
    assert await warehouse.fetchval("SELECT count(*) FROM events") == 1000
    report = await sync_table(clients, sync_settings(prefix, lock_wait_s=5), "events", "full")
    assert report.rows == 151_000
    assert await assert_equal_to_source(source, warehouse, "events") == 151_000
