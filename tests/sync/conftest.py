"""Sync fixtures: open sync clients on the test's stack, a fresh S3 prefix per test, and
``case``: a scenario's stack on a Postgres and on a MySQL source."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio

from services.sync.clients import open_clients
from services.sync.runner import SyncClients
from services.sync.s3 import ensure_bucket
from shared.settings import CoreSettings
from shared.source import open_source
from tests.conftest import core_on_source
from tests.sync.sources import SourceCase

_prefixes = itertools.count(1)


@pytest_asyncio.fixture
async def clients(core: CoreSettings) -> AsyncIterator[SyncClients]:
    async with open_clients(core) as opened:
        await ensure_bucket(opened.s3, "forklift-sync-tests")
        yield opened


@pytest_asyncio.fixture
def prefix() -> str:
    return f"t{next(_prefixes)}"


@pytest_asyncio.fixture(params=["postgres", "mysql"])
async def case(
    request: pytest.FixtureRequest, core: CoreSettings, mysql_run: str
) -> AsyncIterator[SourceCase]:
    """The same sync scenario on each source dialect: the settings, a SourceDatabase to
    seed and change the source with, and open sync clients."""
    async with AsyncExitStack() as stack:
        setup = await stack.enter_async_context(core_on_source(request.param, core, mysql_run))
        db = await open_source(setup.source_dsn or "")
        stack.push_async_callback(db.close)
        opened = await stack.enter_async_context(open_clients(setup))
        await ensure_bucket(opened.s3, "forklift-sync-tests")
        yield SourceCase(request.param, setup, db, opened)
