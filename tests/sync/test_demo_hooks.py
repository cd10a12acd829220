"""The sync demo hooks: the bucket is created, the check fails until the warehouse equals
the source."""

from __future__ import annotations

import asyncpg
import pytest
from redis.asyncio import Redis

from services.sync import demo as sync_demo
from services.sync.runner import SyncClients, sync_all
from services.sync.settings import SyncSettings
from shared.aws import AwsConfig
from shared.demo import DemoContext
from shared.settings import CoreSettings
from tests.sync.helpers import seed_events


async def test_seed_creates_bucket_and_check_follows_the_warehouse(
    core: CoreSettings,
    aws: AwsConfig,
    clients: SyncClients,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    redis: Redis,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORKLIFT_SYNC_BUCKET", "forklift-sync-demo-test")
    monkeypatch.setenv("FORKLIFT_SYNC_TABLES", '["events", "clients"]')
    demo = DemoContext(core, source, warehouse, redis, aws, tmp_path, "http://e", "http://m")
    await sync_demo.seed(demo)
    await clients.s3.head_bucket(Bucket="forklift-sync-demo-test")
    await seed_events(source, 50)
    await source.execute("INSERT INTO clients (client_id, name) VALUES (1, 'Acme, \"Inc\"')")

    before = await sync_demo.check(demo)
    assert not before.ok and before.detail == "behind: events 0/50 rows, clients 0/1 rows"
    settings = SyncSettings(_env_file=None)
    assert [r.rows for r in await sync_all(clients, settings)] == [50, 1]
    after = await sync_demo.check(demo)
    assert (after.ok, after.produced, after.detail) == (True, 51, "2 tables equal to source")
