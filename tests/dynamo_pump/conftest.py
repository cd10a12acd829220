"""Fixtures of the dynamo_pump tests: per-test DynamoDB tables in moto, a pump on them."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from services.dynamo_pump.clients import open_pump
from services.dynamo_pump.pump import Pump
from services.dynamo_pump.settings import DynamoSettings
from services.dynamo_pump.tables import create_tables
from shared.aws import AwsConfig, aws_client
from shared.settings import CoreSettings

_tables = itertools.count(1)


@pytest.fixture
def settings() -> DynamoSettings:
    prefix = f"t{os.getpid()}_{next(_tables)}_"
    return DynamoSettings(
        table_prefix=prefix,
        rcu_per_second=10_000,
        idle_sleep_s=0.05,
        use_consumed_capacity=False,
        _env_file=None,
    )


@pytest_asyncio.fixture
async def dynamo(aws: AwsConfig, settings: DynamoSettings) -> AsyncIterator[object]:
    """An aioboto3 DynamoDB client on moto with this test's tables created."""
    async with aws_client(aws, "dynamodb") as client:
        await create_tables(client, settings)
        yield client


@pytest_asyncio.fixture
async def pump(
    core: CoreSettings, settings: DynamoSettings, redis: Redis, dynamo: object
) -> AsyncIterator[Pump]:
    async with open_pump(core, settings, redis) as opened:
        yield opened
