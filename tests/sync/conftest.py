"""Sync fixtures: open sync clients on the test's stack, a fresh S3 prefix per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest_asyncio

from services.sync.clients import open_clients
from services.sync.runner import SyncClients
from services.sync.s3 import ensure_bucket
from shared.settings import CoreSettings

_prefixes = itertools.count(1)


@pytest_asyncio.fixture
async def clients(core: CoreSettings) -> AsyncIterator[SyncClients]:
    async with open_clients(core) as opened:
        await ensure_bucket(opened.s3, "forklift-sync-tests")
        yield opened


@pytest_asyncio.fixture
def prefix() -> str:
    return f"t{next(_prefixes)}"
