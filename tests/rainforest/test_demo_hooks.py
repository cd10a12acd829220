"""rainforest's demo hooks: the seed registers users and configures processes; the check turns ok
once the service logged readings and rotated an hour."""

import json
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from services.rainforest import demo as rainforest_demo
from services.rainforest.adapters import fetch_reading, relay_client
from services.rainforest.ownership import shard_of
from services.rainforest.rotation import ensure_bucket, rotate
from services.rainforest.settings import RainforestSettings
from services.rainforest.users import UserStore
from shared.aws import AwsConfig, aws_client
from shared.demo import DemoContext
from shared.settings import CoreSettings


async def test_seed_then_check(
    core: CoreSettings,
    source,
    warehouse,
    redis: Redis,
    aws: AwsConfig,
    simulator: TestServer,
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{simulator.port}"
    demo = DemoContext(core, source, warehouse, redis, aws, tmp_path, url, "http://unused")
    await rainforest_demo.seed(demo)
    settings = RainforestSettings(**{k.removeprefix("FORKLIFT_RAINFOREST_").lower(): v for k, v in demo.env.items()}, _env_file=None)  # fmt: skip
    assert settings.relay_url == url and settings.tokens()
    # the simulator's EAGLE-200s are on loopback: the demo names that address explicitly
    assert settings.gateway_networks == "127.0.0.1/32"
    store = UserStore(redis, settings.fernet())
    assert len(await store.cloud_ids()) == rainforest_demo.DEMO_USERS
    assert (await store.public("000001"))["adapter"] == "eagle200"
    result = await rainforest_demo.check(demo)
    assert not result.ok and result.produced == 0

    relay = relay_client(settings.relay_url, 4)
    async with aiohttp.ClientSession() as session:
        for cloud_id in ("000000", "000001"):  # as GET /api/event does
            gateway = store.gateway(await store.raw(cloud_id))
            reading = await fetch_reading(session, relay, gateway, 5.0, settings.networks)
            await store.record_remote(reading, json.dumps(reading), shard_of(cloud_id, 1024))
    relay.close()
    async with aws_client(aws, "s3") as s3:
        await ensure_bucket(s3, settings.s3_bucket)
        uploaded = (
            await rotate(s3, settings.s3_bucket, settings.log_dir, datetime.now(UTC), 60)
        ).uploaded
    assert len(uploaded) == 1
    result = await rainforest_demo.check(demo)
    assert result.ok and result.produced == 2, result.detail
