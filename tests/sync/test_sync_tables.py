"""Full and incremental syncs against real Postgres, Redis and moto: equality with the
source, swaps keeping indexes, merges, watermarks, cleanup, and the aggregator's outbox
rows and wake-up message."""

from __future__ import annotations

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.sync.errors import TableBusy, UnknownTable
from services.sync.locks import table_lock
from services.sync.runner import SyncClients, SyncFailure, sync_all, sync_table
from shared.queues import queue_name
from tests.sync.helpers import (
    assert_equal_to_source,
    create_edge_table,
    seed_events,
    sync_settings,
)


async def _objects(clients: SyncClients, prefix: str) -> list[str]:
    page = await clients.s3.list_objects_v2(Bucket="forklift-sync-tests", Prefix=prefix)
    return [o["Key"] for o in page.get("Contents", [])]


async def _aggregator_messages(clients: SyncClients) -> list[tuple]:
    jobs = await clients.redis.queued_jobs(queue_name=queue_name("aggregator"))
    return [(j.function, j.args) for j in jobs]


async def _outbox(warehouse: asyncpg.Pool) -> list[tuple]:
    rows = await warehouse.fetch(
        "SELECT fact_table, hour, source FROM aggregate_outbox ORDER BY 1, 2"
    )
    return [(r["fact_table"], r["hour"].isoformat(), r["source"]) for r in rows]


async def test_edge_cases_round_trip_full_then_incremental(
    clients: SyncClients, source: asyncpg.Pool, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await create_edge_table(source)
    settings = sync_settings(prefix)

    first = await sync_table(clients, settings, "edge_cases")
    assert (first.mode, first.rows) == ("full", 11)  # no watermark yet: a full load
    assert await assert_equal_to_source(source, warehouse, "edge_cases") == 11
    assert await warehouse.fetchval("SELECT label FROM edge_cases WHERE id = 1") == ""
    assert await warehouse.fetchval("SELECT label IS NULL FROM edge_cases WHERE id = 2")

    await source.execute(
        "UPDATE edge_cases SET label = E'changed\\n\"x\",', note = NULL,"
        " updated = '2026-11-02 00:00:00+00' WHERE id IN (3, 4)"
    )
    await source.execute(
        "INSERT INTO edge_cases (id, label, updated) VALUES (99, '', '2026-11-02 00:00:00+00')"
    )
    second = await sync_table(clients, settings, "edge_cases")
    assert (second.mode, second.rows) == ("incremental", 3)
    assert await assert_equal_to_source(source, warehouse, "edge_cases") == 12

    again = await sync_table(clients, settings, "edge_cases")
    assert (again.mode, again.rows, again.parts) == ("incremental", 0, 0)
    assert await assert_equal_to_source(source, warehouse, "edge_cases") == 12
    assert await _objects(clients, prefix) == []  # run prefixes removed after success


async def test_full_swap_keeps_indexes_and_reports_changed_hours(
    clients: SyncClients, source: asyncpg.Pool, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await seed_events(source, 5000)
    settings = sync_settings(prefix, modes={})
    indexes_sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'events' ORDER BY 1"
    indexes = [r["indexname"] for r in await warehouse.fetch(indexes_sql)]

    with capture_logs() as logs:
        report = await sync_table(clients, settings, "events")
    assert report.mode == "full" and report.rows == 5000 and report.parts > 1
    assert await assert_equal_to_source(source, warehouse, "events") == 5000
    assert [r["indexname"] for r in await warehouse.fetch(indexes_sql)] == indexes
    hours = [f"2026-11-20T{h}:00:00+00:00" for h in range(10, 15)]
    assert report.hours == hours
    slugs = ["fbid", "friend_fbid", "ip", "misc", "visit"]
    assert await _outbox(warehouse) == [(s, h, "sync:events") for s in slugs for h in hours]
    assert await _aggregator_messages(clients) == [("drain_outbox", ("sync:events",))]
    done = [e for e in logs if e["event"] == "sync.table.done"]
    assert done[0]["rows"] == 5000 and done[0]["table"] == "events"

    await clients.redis.delete(queue_name("aggregator"))
    await warehouse.execute("DELETE FROM aggregate_outbox")
    assert (await sync_table(clients, settings, "events")).hours == []  # nothing changed
    await source.execute("UPDATE events SET content = 'late' WHERE event_id = 2")  # hour 12
    assert (await sync_table(clients, settings, "events")).hours == []  # no fact reads content
    assert await _aggregator_messages(clients) == [] and await _outbox(warehouse) == []
    await source.execute("UPDATE events SET type = 'shown' WHERE event_id = 2")
    assert (await sync_table(clients, settings, "events")).hours == ["2026-11-20T12:00:00+00:00"]
    assert len(await _outbox(warehouse)) == 5
    assert await assert_equal_to_source(source, warehouse, "events") == 5000


async def test_incremental_merge_reports_old_and_new_hours(
    clients: SyncClients, source: asyncpg.Pool, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await seed_events(source, 1000)
    settings = sync_settings(prefix)
    assert (await sync_table(clients, settings, "events")).mode == "full"
    await source.execute(
        "UPDATE events SET created = '2026-11-21 03:30:00+00', updated = now() WHERE event_id = 1"
    )
    await seed_events(source, 1, start_id=5000)
    await source.execute("UPDATE events SET updated = now() WHERE event_id IN (5000, 7)")
    report = await sync_table(clients, settings, "events")
    assert (report.mode, report.rows) == ("incremental", 3)  # event 7 is unchanged
    assert report.hours == [
        "2026-11-20T10:00:00+00:00",  # event 5000, new
        "2026-11-20T11:00:00+00:00",  # event 1's old hour
        "2026-11-21T03:00:00+00:00",  # event 1's new hour
    ]
    assert await assert_equal_to_source(source, warehouse, "events") == 1001
    assert {(s, h) for s, h, _ in await _outbox(warehouse)} >= {("misc", report.hours[2])}
    watermark = await warehouse.fetchval(
        "SELECT watermark FROM sync_state WHERE table_name = 'events'"
    )
    assert watermark == await source.fetchval("SELECT max(updated) FROM events")


async def test_second_sync_of_a_table_is_skipped_while_locked(
    clients: SyncClients, prefix: str
) -> None:
    settings = sync_settings(prefix)
    async with table_lock(clients.redis, "visits", ttl_s=5, wait_s=0):
        with pytest.raises(TableBusy, match="visits: another sync of this table is running"):
            await sync_table(clients, settings, "visits")
    assert (await sync_table(clients, settings, "visits")).rows == 0  # free again


async def test_sync_all_runs_every_table_despite_one_failure(
    clients: SyncClients, source: asyncpg.Pool, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await seed_events(source, 300)
    settings = sync_settings(prefix)  # edge_cases does not exist in this source
    results = await sync_all(clients, settings)
    failures = [r for r in results if isinstance(r, SyncFailure)]
    assert [f.table for f in failures] == ["edge_cases"]
    assert "no such table in the source database" in failures[0].error
    assert len(results) == 4
    assert await assert_equal_to_source(source, warehouse, "events") == 300


async def test_unknown_table_lists_the_configured_ones(clients: SyncClients, prefix: str) -> None:
    with pytest.raises(UnknownTable) as e:
        await sync_table(clients, sync_settings(prefix), "nope")
    assert str(e.value) == (
        "unknown table 'nope'; configured tables: events, visits, clients, edge_cases"
    )
    assert e.value.exit_code == 2


async def test_s3_failure_leaves_the_live_table_untouched(
    clients: SyncClients, source: asyncpg.Pool, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await seed_events(source, 200)
    settings = sync_settings(prefix, modes={})
    await sync_table(clients, settings, "events")
    await source.execute("DELETE FROM events WHERE event_id > 100")
    broken = sync_settings(prefix, modes={}, bucket="no-such-bucket-forklift")
    results = await sync_all(clients, broken.model_copy(update={"tables": ["events"]}))
    assert isinstance(results[0], SyncFailure) and "NoSuchBucket" in results[0].error
    assert await warehouse.fetchval("SELECT count(*) FROM events") == 200
    assert await warehouse.fetchval("SELECT to_regclass('events__sync_staging')") is None
