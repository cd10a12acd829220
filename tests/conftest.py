"""Fixtures giving each test real, isolated servers (see tests/stack.py).

- ``core``: CoreSettings pointing at this test's own source and warehouse databases (fresh
  clones of migrated templates), this run's Redis db (flushed) and the moto server.
- ``source``/``warehouse``: asyncpg pools on those databases; ``redis``: a client on the db.
- ``aws``: AwsConfig for the moto server.
- ``mysql_core``/``mysql_source``: the same with a MySQL source instead: this test's own
  migrated MariaDB database (a run-unique name, dropped after the test).
- ``cli_env``: the same configuration as FORKLIFT_* environment variables (for the CLI).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio
from moto.server import ThreadedMotoServer
from redis.asyncio import Redis

from services.migrations import migrate_source, migrate_warehouse
from shared.aws import AwsConfig
from shared.embedded import free_port, start_redis
from shared.settings import CoreSettings
from shared.source import SourceDatabase, open_source
from tests import stack


@dataclass
class Templates:
    prefix: str
    source: str
    warehouse: str


@pytest.fixture(scope="session")
def run_prefix() -> str:
    return f"fl_{stack.run_id()}_"


@pytest_asyncio.fixture(scope="session")
async def templates(run_prefix: str) -> AsyncIterator[Templates]:
    """Migrated source and warehouse template databases, cloned for each test."""
    source = f"{run_prefix}tpl_source"
    warehouse = f"{run_prefix}tpl_warehouse"
    await migrate_source(await stack.create_database(source))
    await migrate_warehouse(await stack.create_database(warehouse))
    yield Templates(run_prefix, source, warehouse)
    await stack.drop_databases(run_prefix)


@pytest.fixture(scope="session")
def redis_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's Redis server: the machine's, or a private embedded 6.2 (``make test-floor``)."""
    if not stack.EMBEDDED_REDIS:
        yield stack.REDIS_BASE_URL
        return
    server, url = start_redis(tmp_path_factory.mktemp("redis"), free_port())
    yield url.rsplit("/", 1)[0]
    server.terminate()
    server.wait_stopped(timeout_s=10)


@pytest.fixture(scope="session")
def redis_claim(redis_base_url: str) -> Iterator[stack.RedisClaim]:
    claim = stack.RedisClaim.claim(redis_base_url)
    yield claim
    claim.release()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws(moto_url: str) -> AwsConfig:
    return AwsConfig(
        region="us-east-1",
        endpoint_url=moto_url,
        access_key_id="testing",
        secret_access_key="testing",
        timeout_s=10,
        max_attempts=2,
    )


_db_counter = iter(range(1, 1_000_000))


@pytest_asyncio.fixture
async def core(
    templates: Templates, redis_claim: stack.RedisClaim, moto_url: str
) -> AsyncIterator[CoreSettings]:
    """Settings for this test: its own cloned databases, the run's Redis db (flushed), moto.
    The databases are dropped when the test ends."""
    prefix = f"{templates.prefix}{next(_db_counter)}_"
    source = await stack.create_database(f"{prefix}source", templates.source)
    warehouse = await stack.create_database(f"{prefix}warehouse", templates.warehouse)
    client = Redis.from_url(redis_claim.url)
    await client.flushdb()
    await client.aclose()
    yield CoreSettings(
        source_dsn=source,
        warehouse_dsn=warehouse,
        redis_url=redis_claim.url,
        aws_endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        network_timeout_s=10,
        _env_file=None,
    )
    await stack.drop_databases(prefix)


@pytest.fixture
def cli_env(core: CoreSettings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``core`` as FORKLIFT_* environment variables, also set in os.environ for this test."""
    env = {
        "FORKLIFT_SOURCE_DSN": core.source_dsn or "",
        "FORKLIFT_WAREHOUSE_DSN": core.warehouse_dsn or "",
        "FORKLIFT_REDIS_URL": core.redis_url or "",
        "FORKLIFT_AWS_ENDPOINT_URL": core.aws_endpoint_url or "",
        "FORKLIFT_AWS_ACCESS_KEY_ID": "testing",
        "FORKLIFT_AWS_SECRET_ACCESS_KEY": "testing",
        "FORKLIFT_LOG_FORMAT": "console",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest_asyncio.fixture
async def source(core: CoreSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(core.source_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def warehouse(core: CoreSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(core.warehouse_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def redis(core: CoreSettings) -> AsyncIterator[Redis]:
    client = Redis.from_url(core.redis_url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture(scope="session")
async def mysql_run(run_prefix: str) -> AsyncIterator[str]:
    """This run's prefix of MariaDB database names; whatever is left is dropped at the end."""
    yield run_prefix
    await stack.drop_mysql_databases(run_prefix)


@asynccontextmanager
async def mysql_source_dsn(prefix: str) -> AsyncIterator[str]:
    """A migrated MariaDB source database of the caller's own, dropped on exit."""
    name = f"{prefix}{next(_db_counter)}_mysql"
    dsn = await stack.create_mysql_database(name)
    try:
        await migrate_source(dsn)
        yield dsn
    finally:
        await stack.drop_mysql_databases(name)


@asynccontextmanager
async def core_on_source(
    dialect: str, core: CoreSettings, mysql_run: str
) -> AsyncIterator[CoreSettings]:
    """``core`` with its source on ``dialect``: the test's Postgres source as it is, or
    (``mysql``) a migrated MariaDB database of the test's own."""
    if dialect != "mysql":
        yield core
        return
    async with mysql_source_dsn(mysql_run) as dsn:
        yield core.model_copy(update={"source_dsn": dsn})


@pytest_asyncio.fixture
async def mysql_core(core: CoreSettings, mysql_run: str) -> AsyncIterator[CoreSettings]:
    """``core`` with a MySQL source: a migrated MariaDB database of this test's own."""
    async with core_on_source("mysql", core, mysql_run) as mysql:
        yield mysql


@pytest_asyncio.fixture
async def mysql_source(mysql_core: CoreSettings) -> AsyncIterator[SourceDatabase]:
    db = await open_source(mysql_core.source_dsn or "")
    yield db
    await db.close()


@pytest.fixture(scope="session")
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    return asyncio.DefaultEventLoopPolicy()
