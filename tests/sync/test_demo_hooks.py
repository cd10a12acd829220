"""The sync demo hooks on a Postgres and a MySQL source: the bucket is created, the check
fails until the warehouse equals the source; the demo's seeding fills and tops up a MySQL
source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from redis.asyncio import Redis

from services.demo import seed_source
from services.sync import demo as sync_demo
from services.sync.runner import sync_all
from services.sync.settings import SyncSettings
from shared.aws import AwsConfig
from shared.demo import DemoContext
from shared.source import SourceDatabase
from tests.sync.sources import SourceCase, seed_events


async def test_seed_creates_bucket_and_check_follows_the_warehouse(
    case: SourceCase,
    aws: AwsConfig,
    warehouse: asyncpg.Pool,
    redis: Redis,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORKLIFT_SYNC_BUCKET", "forklift-sync-demo-test")
    monkeypatch.setenv("FORKLIFT_SYNC_TABLES", '["events", "clients"]')
    demo = DemoContext(case.core, case.db, warehouse, redis, aws, tmp_path, "http://e", "http://m")
    await sync_demo.seed(demo)
    await case.clients.s3.head_bucket(Bucket="forklift-sync-demo-test")
    await seed_events(case.db, 50)
    await case.db.execute("INSERT INTO clients (client_id, name) VALUES (1, 'Acme, \"Inc\"')")

    before = await sync_demo.check(demo)
    assert not before.ok and before.detail == "behind: events 0/50 rows, clients 0/1 rows"
    settings = SyncSettings(_env_file=None)
    assert [r.rows for r in await sync_all(case.clients, settings)] == [50, 1]
    after = await sync_demo.check(demo)
    assert (after.ok, after.produced, after.detail) == (True, 51, "2 tables equal to source")
    await case.db.execute("UPDATE events SET content = 'changed' WHERE event_id = 3")
    assert (await sync_demo.check(demo)).detail == "behind: events 50/50 rows"


async def test_demo_seeding_fills_then_tops_up_a_mysql_source(
    mysql_source: SourceDatabase,
) -> None:
    now = datetime.now(UTC)
    events = await seed_source(mysql_source, now)
    assert events > 10_000
    assert await mysql_source.fetchval("SELECT count(*) FROM events") == events
    assert await mysql_source.fetchval("SELECT count(*) FROM auth_user") == 4
    added = await seed_source(mysql_source, now + timedelta(hours=6))  # a later start
    assert added > 0
    assert await mysql_source.fetchval("SELECT count(*) FROM events") == events + added
    assert await mysql_source.fetchval("SELECT count(*) FROM auth_user") == 4
