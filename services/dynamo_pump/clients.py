"""Opening the pump's clients (warehouse pool, DynamoDB client, Redis) in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from services.dynamo_pump.fetch import Fetcher
from services.dynamo_pump.limiter import RcuLimiter
from services.dynamo_pump.pump import Pump
from services.dynamo_pump.settings import DynamoSettings
from services.dynamo_pump.workqueue import WorkQueues
from shared.aws import AwsConfig, aws_client
from shared.db import create_pool
from shared.heartbeat import Heartbeat
from shared.settings import CoreSettings

__all__ = ["open_pump"]


@asynccontextmanager
async def open_pump(
    core: CoreSettings,
    settings: DynamoSettings,
    redis: Redis,
    heartbeat: Heartbeat | None = None,
) -> AsyncIterator[Pump]:
    """A :class:`Pump` with its clients; they are closed on exit."""
    core.require("warehouse_dsn", "redis_url")
    # No botocore retries (its max_attempts counts retries): throttles must reach the
    # shared limiter, and failed batches go back to their queue.
    aws = dataclasses.replace(AwsConfig.from_settings(core), max_attempts=0)
    warehouse = await create_pool(
        core.warehouse_dsn or "",
        name="warehouse",
        max_size=min(core.db_pool_max_size, settings.concurrency + 1),
        command_timeout_s=core.db_command_timeout_s,
    )
    try:
        async with aws_client(aws, "dynamodb", max_pool_connections=settings.concurrency * 2) as c:
            limiter = RcuLimiter(redis, settings.rcu_per_second)
            fetcher = Fetcher(
                c,
                limiter,
                settings.table("users"),
                settings.table("edges"),
                ask_consumed_capacity=settings.use_consumed_capacity,
            )
            queues = WorkQueues(redis, settings.in_flight_timeout_s)
            yield Pump(settings, warehouse, redis, queues, fetcher, heartbeat)
    finally:
        await warehouse.close()
