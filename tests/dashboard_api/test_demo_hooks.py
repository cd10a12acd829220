"""The demo hooks: seed configures the server, check logs in and compares metrics to SQL."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from services.dashboard_api import demo as dashboard_demo
from services.dashboard_api.api import create_app
from services.dashboard_api.passwords import make_django_hash
from services.dashboard_api.settings import DashboardSettings
from shared.aws import AwsConfig
from shared.demo import DEMO_CLIENT_USERS, DemoContext
from shared.settings import CoreSettings


async def test_seed_then_check(
    seeded: CoreSettings,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    redis: Redis,
    aws: AwsConfig,
    tmp_path: Path,
) -> None:
    password, _ = DEMO_CLIENT_USERS["acme"]
    await source.execute(
        "UPDATE auth_user SET password = $1 WHERE username = 'acme'",
        make_django_hash(password, "s", 1000),
    )
    demo = DemoContext(
        seeded, source, warehouse, redis, aws, tmp_path, "http://eagle", "http://matomo"
    )
    demo.env["FORKLIFT_RAINFOREST_API_TOKEN"] = "rf-token"
    await dashboard_demo.seed(demo)
    assert demo.env["FORKLIFT_DASHBOARD_RAINFOREST_TOKEN"] == "rf-token"
    # plain HTTP on 127.0.0.1, and unknown users cost what the seeded (260k) hashes cost
    assert demo.env["FORKLIFT_DASHBOARD_COOKIE_SECURE"] == "false"
    assert demo.env["FORKLIFT_DASHBOARD_PASSWORD_ITERATIONS"] == "260000"
    secret = demo.env["FORKLIFT_DASHBOARD_SESSION_SECRET"]
    await dashboard_demo.seed(demo)  # a restarted demo keeps its secret
    assert demo.env["FORKLIFT_DASHBOARD_SESSION_SECRET"] == secret and len(secret) >= 32

    demo.api_urls["dashboard_api"] = "http://127.0.0.1:1"  # nothing listens: not ok, no wait
    assert not (await dashboard_demo.check(demo)).ok
    settings = DashboardSettings(session_secret=secret, password_iterations=1000, _env_file=None)
    async with TestServer(await create_app(seeded, settings), host="127.0.0.1") as server:
        demo.api_urls["dashboard_api"] = f"http://127.0.0.1:{server.port}"
        result = await dashboard_demo.check(demo)
    assert result.ok, result.detail
    assert result.produced > 0 and "2 campaigns" in result.detail
