"""Fixtures for rainforest: a simulator server, settings pointing at it, an API client, and
``rf_redis``: this run's Redis db (flushed) for tests that need nothing else."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from services.rainforest import api
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import create_app as create_simulator
from shared.settings import CoreSettings
from tests import stack
from tests.edge import EdgeTestServer

TOKEN = "test-token"


@pytest_asyncio.fixture
async def simulator() -> AsyncIterator[TestServer]:
    server = TestServer(create_simulator(300), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def sim_url(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def settings(simulator: TestServer, tmp_path: Path) -> RainforestSettings:
    return RainforestSettings(
        api_token=f"other-token,{TOKEN}",
        encryption_key=Fernet.generate_key().decode(),
        log_dir=tmp_path / "logs",
        relay_url=sim_url(simulator),
        request_timeout_s=1.0,
        flush_interval_s=0.2,
        gateway_networks="127.0.0.1/32",  # the simulator's EAGLE-200s
        _env_file=None,
    )


@pytest_asyncio.fixture
async def client(core: CoreSettings, settings: RainforestSettings) -> AsyncIterator[TestClient]:
    app = await api.create_app(core, settings, background=False)
    async with TestClient(EdgeTestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


@pytest_asyncio.fixture
async def rf_redis(redis_claim: stack.RedisClaim) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_claim.url)
    await client.flushdb()
    yield client
    await client.aclose()
