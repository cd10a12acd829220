"""The sync -> aggregator hand-off on real Postgres, Redis, moto and processes: changes of
any table a fact reads (a visitor's fbid filled in, a visit's IP changed, a visit deleted)
re-aggregate exactly the hours they affect; a sync killed between its commit and the
wake-up message still gets its hours re-aggregated, from the outbox.

Data is relative to the current time: six hours ending a day ago."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from services.aggregator.hours import HOUR, floor_hour
from services.aggregator.verify import verify_table
from services.sync.locks import lock_key
from services.sync.runner import SyncClients, sync_table
from services.sync.settings import SyncSettings
from shared.embedded import free_port, start_redis
from shared.facts import FACT_TABLES
from shared.queues import queue_name
from shared.settings import CoreSettings
from tests.aggregator.test_worker_cli import _burst
from tests.sync.helpers import sync_settings

CAMPAIGN = 5
BASE = floor_hour(datetime.now(UTC)) - timedelta(days=1, hours=6)
H = [BASE + i * HOUR for i in range(6)]
SEEDED = BASE - timedelta(days=1)  # the seeded rows' `updated`
VISITORS = [(1, None), (2, 1002), (3, 1003), (4, 1004)]  # visitor 1: no fbid yet
VISITS = [(10, 1, "10.0.0.10"), (11, 2, "10.0.0.11"), (12, 3, "10.0.0.12")]
VISITS += [(13, 4, "10.0.0.13"), (14, 1, "10.0.0.14")]
EVENTS = [  # visit, hour index, type
    (10, 1, "authorized"),
    (10, 1, "shown"),
    (14, 3, "authorized"),
    (11, 0, "incoming_redirect"),
    (11, 2, "authorized"),
    (12, 2, "session_start"),
    (12, 4, "authorized"),
    (13, 5, "authorized"),
    (13, 5, "shared"),
]
TABLES = ["visitors", "visits", "events"]


async def _seed(source: asyncpg.Pool) -> None:
    await source.executemany(
        "INSERT INTO visitors (visitor_id, uuid, fbid, created, updated)"
        " VALUES ($1::bigint, 'u' || $1::bigint, $2, $3, $3)",
        [(*v, SEEDED) for v in VISITORS],
    )
    await source.executemany(
        "INSERT INTO visits (visit_id, visitor_id, session_id, app_id, ip, created, updated)"
        " VALUES ($1, $2, 's', 1, $3, $4, $4)",
        [(*v, SEEDED) for v in VISITS],
    )
    await add_events(source, [(v, H[i] + timedelta(minutes=10), t) for v, i, t in EVENTS], SEEDED)


async def add_events(
    source: asyncpg.Pool, events: list[tuple], updated: datetime, first_id: int = 1
) -> None:
    """(visit_id, created, type) events of the test campaign."""
    await source.executemany(
        "INSERT INTO events (event_id, visit_id, campaign_id, type, created, updated)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(first_id + i, v, CAMPAIGN, t, c, updated) for i, (v, c, t) in enumerate(events)],
    )


async def _facts(warehouse: asyncpg.Pool) -> dict[str, set[tuple]]:
    return {
        t.slug: {tuple(r) for r in await warehouse.fetch(f"SELECT * FROM {t.name}")}  # noqa: S608 ours
        for t in FACT_TABLES
    }


def _changed_hours(before: dict[str, set[tuple]], after: dict[str, set[tuple]]) -> dict:
    """Per fact table, the hours whose rows differ (column 2 of a fact row is its hour)."""
    return {
        slug: sorted({row[1] for row in before[slug] ^ after[slug]})
        for slug in before
        if before[slug] != after[slug]
    }


async def _outbox(warehouse: asyncpg.Pool) -> set[tuple]:
    rows = await warehouse.fetch("SELECT fact_table, hour FROM aggregate_outbox")
    return {(r["fact_table"], r["hour"]) for r in rows}


async def _differing(warehouse: asyncpg.Pool) -> int:
    """Stored fact rows of the six hours that differ from a recomputation."""
    total = 0
    for table in FACT_TABLES:
        total += (await verify_table(warehouse, table, H[0], H[-1] + HOUR)).differing
    return total


async def _hours_of_visits(source: asyncpg.Pool, where: str) -> list[datetime]:
    """Independently, from the source: the hours of the events of the visits ``where``."""
    rows = await source.fetch(
        "SELECT DISTINCT date_trunc('hour', e.created) AS hour FROM events e"
        f" JOIN visits v ON v.visit_id = e.visit_id WHERE {where} ORDER BY 1"  # noqa: S608 test
    )
    return [r["hour"] for r in rows]


async def _seeded_synced_aggregated(
    core: CoreSettings,
    clients: SyncClients,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    prefix: str,
) -> SyncSettings:
    """Seed the source, sync every table incrementally and aggregate until the outbox is
    empty and the facts equal a recomputation; returns the sync settings used."""
    settings = sync_settings(prefix, tables=TABLES, modes=dict.fromkeys(TABLES, "incremental"))
    await _seed(source)
    for table in TABLES:
        await sync_table(clients, settings, table)
    await _burst(core)
    assert await _outbox(warehouse) == set() and await _differing(warehouse) == 0
    return settings


async def test_dimension_changes_reaggregate_exactly_their_hours(
    core: CoreSettings,
    clients: SyncClients,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    prefix: str,
) -> None:
    settings = await _seeded_synced_aggregated(core, clients, source, warehouse, prefix)
    facts = await _facts(warehouse)
    assert all(facts[slug] for slug in ("fbid", "visit", "ip", "misc"))  # no friend_fbid data

    async def change(sql: str, table: str, mode: str | None = None) -> tuple[set, dict]:
        """Run ``sql`` ($1: now on the test's clock, not the server's) and sync ``table``."""
        before = await _facts(warehouse)
        await source.execute(sql, *([datetime.now(UTC)] if "$1" in sql else []))
        await sync_table(clients, settings, table, mode)  # type: ignore[arg-type]
        stale = await _outbox(warehouse)
        await _burst(core)
        assert await _outbox(warehouse) == set()
        assert await _differing(warehouse) == 0  # equal to a recomputation
        return stale, _changed_hours(before, await _facts(warehouse))

    # A visitor's fbid filled in after its hours were aggregated: only fbid facts read it.
    hours = await _hours_of_visits(source, "v.visitor_id = 1")
    assert hours == [H[1], H[3]]
    stale, changed = await change(
        "UPDATE visitors SET fbid = 1001, updated = $1 WHERE visitor_id = 1", "visitors"
    )
    assert stale == {("fbid", h) for h in hours}
    assert changed == {"fbid": hours}

    # A visit's IP changed: ip (and fbid, which joins visits) recomputed; only ip differs.
    hours = await _hours_of_visits(source, "v.visit_id = 12")
    assert hours == [H[2], H[4]]
    stale, changed = await change(
        "UPDATE visits SET ip = '203.0.113.9', updated = $1 WHERE visit_id = 12", "visits"
    )
    assert stale == {(slug, h) for h in hours for slug in ("fbid", "ip")}
    assert changed == {"ip": hours}

    # A column no fact reads: nothing stale, nothing queued.
    stale, changed = await change(
        "UPDATE visits SET user_agent = 'x', updated = $1 WHERE visit_id = 11", "visits"
    )
    assert stale == set() and changed == {}
    assert await clients.redis.zcard(queue_name("aggregator")) == 0

    # A visit deleted (a full sync propagates deletes): its fbid and ip rows go.
    hours = await _hours_of_visits(source, "v.visit_id = 13")
    assert hours == [H[5]]
    stale, changed = await change("DELETE FROM visits WHERE visit_id = 13", "visits", "full")
    assert stale == {("fbid", H[5]), ("ip", H[5])}
    assert changed == {"fbid": hours, "ip": hours}


@pytest.fixture
def own_redis(tmp_path: Path):
    """A Redis 6.2 server (the embedded binary) this test can freeze: (process, url)."""
    server, url = start_redis(tmp_path, free_port())
    yield server, url
    os.kill(server.process.pid, signal.SIGCONT)
    server.terminate()
    server.wait_stopped(timeout_s=10)


async def _wait_for(check, what: str, timeout_s: float = 60, poll_s: float = 0.002) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(poll_s)


async def test_sync_killed_between_commit_and_wake_up_still_gets_its_hour_reaggregated(
    core: CoreSettings,
    clients: SyncClients,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    cli_env: dict,
    prefix: str,
    own_redis,
) -> None:
    await _seeded_synced_aggregated(core, clients, source, warehouse, prefix)
    late = [(11, H[2] + timedelta(minutes=30), "authorized")] * 300
    await add_events(source, late, datetime.now(UTC), first_id=1000)

    server, url = own_redis
    env = {
        **os.environ,
        **cli_env,
        "FORKLIFT_REDIS_URL": url,
        "FORKLIFT_SYNC_BUCKET": "forklift-sync-tests",
        "FORKLIFT_SYNC_PREFIX": prefix,
        "FORKLIFT_SYNC_TABLES": '["events"]',
        "FORKLIFT_SYNC_MODES": '{"events": "incremental"}',
        "FORKLIFT_SYNC_OVERLAP_S": "0",
    }
    redis = Redis.from_url(url)
    sync = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services", "sync", "table", "events"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        # Once the sync holds its table lock it needs Redis only for the wake-up after its
        # commit: freeze Redis, wait for the commit (its outbox rows), kill the sync.
        await _wait_for(lambda: redis.exists(lock_key("events")), "the sync's lock")
        os.kill(server.process.pid, signal.SIGSTOP)
        await _wait_for(lambda: _outbox(warehouse), "the sync's commit")
    finally:
        sync.kill()
        await sync.wait()
        os.kill(server.process.pid, signal.SIGCONT)
    assert await redis.zcard(queue_name("aggregator")) == 0  # the wake-up never arrived
    assert await _outbox(warehouse) == {(t.slug, H[2]) for t in FACT_TABLES}
    misc = await verify_table(warehouse, FACT_TABLES[-1], H[2], H[3])
    assert misc.changed == 1  # the hour is stale: 300 authorizations are missing

    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services", "worker", "aggregator"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def acknowledged() -> bool:
        return await _outbox(warehouse) == set()

    try:
        started = time.monotonic()
        await _wait_for(acknowledged, "the outbox to be acknowledged", timeout_s=90, poll_s=0.2)
        recovered_s = time.monotonic() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 30)
        await redis.aclose()
    assert await _differing(warehouse) == 0
    authorizations = await warehouse.fetchval(
        "SELECT authorizations FROM misc_facts_hourly WHERE hour = $1", H[2]
    )
    assert authorizations == 301
    assert recovered_s < 60  # the worker drains the outbox at start-up
