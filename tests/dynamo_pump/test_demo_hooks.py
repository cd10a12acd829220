"""The dynamo_pump demo hooks: seed puts items for the source's fbids; check follows the warehouse."""

import asyncpg
import pytest
from redis.asyncio import Redis

from services.dynamo_pump import demo as dynamo_demo
from services.dynamo_pump.clients import open_pump
from services.dynamo_pump.pump import plan
from services.dynamo_pump.settings import DynamoSettings
from shared.aws import AwsConfig
from shared.demo import DemoContext
from shared.settings import CoreSettings


async def test_seed_then_pump_then_check(
    core: CoreSettings,
    aws: AwsConfig,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    redis: Redis,
    settings: DynamoSettings,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORKLIFT_DYNAMO_TABLE_PREFIX", settings.table_prefix)
    for pool in (source, warehouse):
        await pool.execute(
            "INSERT INTO user_clients (user_client_id, fbid, client_id) VALUES (1, 21, 1), (2, 22, 1)"
        )
    for pool in (source, warehouse):  # a visitor who never authorized a client
        await pool.execute("INSERT INTO visitors (visitor_id, uuid, fbid) VALUES (1, 'u', 23)")
    demo = DemoContext(core, source, warehouse, redis, aws, tmp_path, "http://e", "http://m")
    await dynamo_demo.seed(demo)
    assert demo.env["FORKLIFT_DYNAMO_PLAN_INTERVAL_MINUTES"] == "1"
    before = await dynamo_demo.check(demo)
    assert not before.ok and before.detail == "users 0/2 user_clients fbids, 0 edges"

    async with open_pump(core, settings, redis) as pump:
        await plan(settings, warehouse, pump.queues)
        while await pump.step():
            pass
    after = await dynamo_demo.check(demo)
    assert after.ok and after.detail == "users 2/2 user_clients fbids, 2 edges"
    # DynamoDB holds nothing for the visitor: the pump recorded its edges as missing
    assert await warehouse.fetchval("SELECT count(*) FROM missing_edges WHERE fbid = 23") == 1
    assert not await warehouse.fetchval("SELECT count(*) FROM edges WHERE fbid_target = 23")
