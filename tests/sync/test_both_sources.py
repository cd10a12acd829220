"""The same syncs from a Postgres and from a MySQL source: full loads equal to the source,
incremental merges picking up updates, the aggregator's changed hours, one table's failure
not stopping the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from services.sync.runner import SyncFailure, sync_all, sync_table
from shared.queues import queue_name
from tests.sync.helpers import sync_settings
from tests.sync.sources import T0, SourceCase, assert_same_rows, seed_events


def _hours(*offsets: int) -> list[str]:
    return [(T0 + timedelta(hours=h)).isoformat() for h in offsets]


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
    assert await _aggregator_messages(case) == [("requeue_hours", (report.hours, "sync:events"))]

    assert (await sync_table(case.clients, settings, "events")).hours == []  # nothing changed
    await case.db.execute("UPDATE events SET content = 'late' WHERE event_id = 2")  # hour 2
    assert (await sync_table(case.clients, settings, "events")).hours == _hours(2)
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
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=5)  # the source's default
