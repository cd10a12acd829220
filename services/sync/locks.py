"""A Redis lock per table, kept alive while a run lasts and gone soon after a crash."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import LockError

from services.sync.errors import TableBusy

__all__ = ["lock_key", "table_lock"]


def lock_key(table: str) -> str:
    return f"forklift:sync:lock:{table}"


async def _keep_alive(lock: object, ttl_s: float) -> None:
    while True:
        await asyncio.sleep(ttl_s / 3)
        await lock.extend(ttl_s, replace_ttl=True)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def table_lock(redis: Redis, table: str, ttl_s: float, wait_s: float) -> AsyncIterator[None]:
    """Hold ``table``'s lock: wait up to ``wait_s`` for it, else TableBusy. The lock expires
    ``ttl_s`` after its holder stops refreshing it (a killed worker blocks nobody for long)."""
    lock = redis.lock(lock_key(table), timeout=ttl_s, blocking=wait_s > 0, blocking_timeout=wait_s)
    if not await lock.acquire():
        raise TableBusy(f"{table}: another sync of this table is running; skipped")
    refresher = asyncio.create_task(_keep_alive(lock, ttl_s))
    try:
        yield
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError, LockError):
            await refresher
        with contextlib.suppress(LockError):
            await lock.release()
