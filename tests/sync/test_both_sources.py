"""The same syncs from a Postgres and from a MySQL source: full loads equal to the source,
incremental merges picking up updates, the changed hours in the aggregator's outbox, one
table's failure not stopping the others, the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.main import cli
from services.sync.runner import SyncFailure, sync_all, sync_table
from shared.cli import run_cli
from shared.queues import queue_name
from tests.sync.helpers import sync_settings
from tests.sync.sources import T0, SourceCase, assert_same_rows, seed_events


def _hours(*offsets: int) -> list[str]:
    return [(T0 + timedelta(hours=h)).isoformat() for h in offsets]


async def _outbox(warehouse: asyncpg.Pool) -> list[tuple]:
    rows = await warehouse.fetch(
        "SELECT fact_table, hour, source FROM aggregate_outbox ORDER BY 1, 2"
    )
    return [(r["fact_table"], r["hour"].isoformat(), r["source"]) for r in rows]


async def _aggregator_messages(case: SourceCase) -> list[tuple]:
    jobs = await case.clients.redis.queued_jobs(queue_name=queue_name("aggregator"))
    return [(j.function, j.args) for j in jobs]


async def test_full_sync_equals_source_and_reports_changed_hours(
    case: SourceCase, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await seed_events(case.db, 3000)
    settings = sync_settings(prefix, modes={})
    report = await sync_table(case.clients, settings, "events")
    assert (report.mode, report.rows, report.nulled) == ("full", 3000, {})
    assert report.parts > 1  # 64 KiB parts
    assert await assert_same_rows(case.db, warehouse, "events", "event_id") == 3000
    assert report.hours == _hours(0, 1, 2, 3, 4)
    slugs = ["fbid", "friend_fbid", "ip", "misc", "visit"]
    assert await _outbox(warehouse) == [(s, h, "sync:events") for s in slugs for h in report.hours]
    assert await _aggregator_messages(case) == [("drain_outbox", ("sync:events",))]

    await warehouse.execute("DELETE FROM aggregate_outbox")
    assert (await sync_table(case.clients, settings, "events")).hours == []  # nothing changed
    await case.db.execute("UPDATE events SET type = 'shown' WHERE event_id = 2")  # hour 2
    assert (await sync_table(case.clients, settings, "events")).hours == _hours(2)
    assert len(await _outbox(warehouse)) == len(slugs)
    assert await assert_same_rows(case.db, warehouse, "events", "event_id") == 3000


async def test_incremental_picks_up_updates_and_new_rows(
    case: SourceCase, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await seed_events(case.db, 1000)
    settings = sync_settings(prefix)
    assert (await sync_table(case.clients, settings, "events")).mode == "full"  # no watermark

    now = datetime.now(UTC).replace(microsecond=123456)
    moved = T0 + timedelta(days=1, hours=3, minutes=30)
    await case.db.execute(
        "UPDATE events SET created = $1, content = $2, updated = $3 WHERE event_id = 1",
        moved,
        'moved, "quoted"',
        now,
    )
    await seed_events(case.db, 1, start_id=5000)
    await case.db.execute("UPDATE events SET updated = $1 WHERE event_id = 5000", now)
    report = await sync_table(case.clients, settings, "events")
    assert (report.mode, report.rows) == ("incremental", 2)
    # event 5000's hour (new), event 1's old hour and its new one
    assert report.hours == [*_hours(0, 1), moved.replace(minute=0).isoformat()]
    assert {(s, h) for s, h, _ in await _outbox(warehouse)} >= {("misc", report.hours[2])}
    assert await assert_same_rows(case.db, warehouse, "events", "event_id") == 1001
    watermark = await warehouse.fetchval(
        "SELECT watermark FROM sync_state WHERE table_name = 'events'"
    )
    assert watermark == now

    again = await sync_table(case.clients, settings, "events")
    assert (again.mode, again.rows, again.parts) == ("incremental", 0, 0)


async def test_sync_all_runs_every_table_despite_one_failure(
    case: SourceCase, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await seed_events(case.db, 300)
    await case.db.execute("INSERT INTO clients (client_id, name) VALUES (1, $1)", 'Acme, "Inc"')
    results = await sync_all(case.clients, sync_settings(prefix))  # no edge_cases table
    failures = [r for r in results if isinstance(r, SyncFailure)]
    assert [f.table for f in failures] == ["edge_cases"]
    assert "edge_cases: no such table in the source database" in failures[0].error
    assert [r.rows for r in results if not isinstance(r, SyncFailure)] == [300, 0, 1]
    assert await assert_same_rows(case.db, warehouse, "events", "event_id") == 300
    assert await assert_same_rows(case.db, warehouse, "clients", "client_id") == 1
    created = await warehouse.fetchval("SELECT created FROM clients")
    server_now = await warehouse.fetchval("SELECT now()")  # the servers' clock, not the test's
    assert abs(created - server_now) < timedelta(minutes=5)  # the source's default


async def test_cli_syncs_a_table_and_all_tables(
    case: SourceCase,
    warehouse: asyncpg.Pool,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed_events(case.db, 120)
    env = {
        "FORKLIFT_SOURCE_DSN": case.core.source_dsn or "",
        "FORKLIFT_WAREHOUSE_DSN": case.core.warehouse_dsn or "",
        "FORKLIFT_REDIS_URL": case.core.redis_url or "",
        "FORKLIFT_AWS_ENDPOINT_URL": case.core.aws_endpoint_url or "",
        "FORKLIFT_AWS_ACCESS_KEY_ID": "testing",
        "FORKLIFT_AWS_SECRET_ACCESS_KEY": "testing",
        "FORKLIFT_SYNC_BUCKET": "forklift-sync-tests",
        "FORKLIFT_SYNC_PREFIX": prefix,
        "FORKLIFT_SYNC_TABLES": '["events", "clients"]',
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert await asyncio.to_thread(run_cli, cli, ["sync", "table", "events"]) == 0
    assert capsys.readouterr().out.startswith("events: full rows=120 ")
    assert await asyncio.to_thread(run_cli, cli, ["sync", "all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" rows=")[0] for line in lines] == ["events: incremental", "clients: full"]
    assert await assert_same_rows(case.db, warehouse, "events", "event_id") == 120


def test_cli_mysql_source_down_is_one_clear_line(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORKLIFT_SOURCE_DSN", "mysql://forklift:secret@127.0.0.1:1/edgeflip")
    assert run_cli(cli, ["sync", "table", "events"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("forklift: error: source database unreachable: OperationalError: (2003, ")
    assert len(err.splitlines()) == 1 and "secret" not in err
    monkeypatch.setenv("FORKLIFT_SOURCE_DSN", "mysql://forklift@127.0.0.1:3306/")
    assert run_cli(cli, ["sync", "table", "events"]) == 2
    assert "MySQL DSN names no database" in capsys.readouterr().err
