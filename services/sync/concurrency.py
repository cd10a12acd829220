"""A TaskGroup that fails with its first error, so callers catch SyncError, not groups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["task_group"]


@asynccontextmanager
async def task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """``asyncio.TaskGroup`` raising the first failure itself (the other tasks were
    cancelled because of it)."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except ExceptionGroup as e:
        raise e.exceptions[0] from None
