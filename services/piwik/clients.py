"""Opening and closing what an import needs, together: warehouse pool, S3, Matomo session,
and the parsing processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp

from services.piwik.chunks import warm_up
from services.piwik.importer import Clients
from services.piwik.matomo import matomo_from_settings
from services.piwik.settings import PiwikSettings
from shared.aws import AwsConfig, aws_client
from shared.db import create_pool
from shared.settings import CoreSettings

__all__ = ["open_clients"]


@asynccontextmanager
async def open_clients(core: CoreSettings, settings: PiwikSettings) -> AsyncIterator[Clients]:
    """Clients for ``core`` and ``settings``, all closed on exit."""
    core.require("warehouse_dsn")
    async with AsyncExitStack() as stack:
        pool = await create_pool(
            core.warehouse_dsn or "",
            name="warehouse",
            # the ledger writes (a day's acknowledgements go together), the file's advisory
            # lock, the load transaction
            max_size=settings.recorders + 2,
            command_timeout_s=core.db_command_timeout_s,
        )
        stack.push_async_callback(pool.close)
        s3 = await stack.enter_async_context(aws_client(AwsConfig.from_settings(core), "s3"))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        executor = None
        if settings.parse_processes > 1:
            # spawn: forking a process that runs threads (boto, asyncio) is unsafe.
            executor = ProcessPoolExecutor(
                settings.parse_processes, mp_context=multiprocessing.get_context("spawn")
            )
            stack.callback(executor.shutdown, cancel_futures=True)
            for _ in range(settings.parse_processes):  # start them now, not on the first file
                executor.submit(warm_up)
        yield Clients(pool, s3, matomo_from_settings(settings, session), executor)
