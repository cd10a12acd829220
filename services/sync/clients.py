"""Opening and closing the clients a sync needs, together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from redis.asyncio import Redis

from services.sync.runner import SyncClients
from services.sync.source import open_sync_source
from shared.aws import AwsConfig, aws_client
from shared.db import create_pool
from shared.queues import connect_queue
from shared.settings import CoreSettings

__all__ = ["open_clients"]


@asynccontextmanager
async def open_clients(
    core: CoreSettings, redis: Redis | None = None
) -> AsyncIterator[SyncClients]:
    """The source (Postgres or MySQL, by its DSN), a warehouse pool, an S3 client and Redis
    (``redis`` if given, else a new queue connection), all closed on exit."""
    core.require("source_dsn", "warehouse_dsn", "redis_url")
    async with AsyncExitStack() as stack:
        source = await open_sync_source(core)
        stack.push_async_callback(source.close)
        warehouse = await create_pool(
            core.warehouse_dsn or "",
            name="warehouse",
            max_size=4,
            command_timeout_s=core.db_command_timeout_s,
        )
        stack.push_async_callback(warehouse.close)
        s3 = await stack.enter_async_context(aws_client(AwsConfig.from_settings(core), "s3"))
        if redis is None:
            redis = await connect_queue(core.redis_url or "")
            stack.push_async_callback(redis.aclose)
        yield SyncClients(source, warehouse, s3, redis, core.warehouse_dialect)
