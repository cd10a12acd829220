"""The demo check: not ok before the worker loaded the hours, ok after, not ok on late data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from services.aggregator import demo as aggregator_demo
from shared.aws import AwsConfig
from shared.demo import DemoContext
from shared.settings import CoreSettings
from tests.aggregator.fixture import CAMPAIGN, HOUR, OUTSIDE, insert_events, insert_raw
from tests.aggregator.test_worker_cli import _burst, _sync_says


async def test_demo_check_compares_facts_with_a_recomputation(
    core: CoreSettings,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    redis: Redis,
    aws: AwsConfig,
    tmp_path: Path,
) -> None:
    demo = DemoContext(core, source, warehouse, redis, aws, tmp_path, "http://e", "http://m")
    await aggregator_demo.seed(demo)
    assert aggregator_demo.PROCESSES == (("worker", "aggregator"),)
    assert (await aggregator_demo.check(demo)).detail == "no events synced yet"

    await insert_raw(warehouse)
    before = await aggregator_demo.check(demo)
    assert (
        not before.ok
        and before.produced == 0
        and "visit@2014-02-01T02 4 differing rows" in before.detail
    )

    await _sync_says(core, warehouse, HOUR, OUTSIDE)
    await _burst(core)
    after = await aggregator_demo.check(demo)
    assert after.ok and after.produced == 24, after.detail

    await insert_events(
        warehouse, [(900, 11, CAMPAIGN, None, "shown", HOUR + timedelta(minutes=1))]
    )
    late = await aggregator_demo.check(demo)
    assert not late.ok and late.detail.startswith("behind: visit@2014-02-01T02 1 differing rows")
