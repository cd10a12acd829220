"""The block cache's warm-up: a background task of the API process that reads the newest
days of rollups of every root, and those roots' campaign rows (``queries.warm_blocks``),
when the process starts and again after the data version changes, so the first request of
each root for a recent range finds its days decoded and its campaign row at hand instead
of reading them (a cold read is one heap page per rollup row, the rows lying in load
order, and the first requests of all roots come at once).

At most one warm-up runs at a time, and a new one starts at least ``pause_s`` after the
last began (a backfill bumps the version many times a minute). Requests never wait for
it: one that comes first reads its own days, as without the warm-up.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from services.dashboard_api import queries
from services.dashboard_api.cache import VersionedCache
from shared.errors import describe
from shared.logging import get_logger

__all__ = ["Warmer"]

log = get_logger("forklift.dashboard_api.warmup")


class Warmer:
    """Warms ``cache`` with the newest ``days`` days (0: never), and ``campaigns`` with
    their roots' rows, while :meth:`run` runs."""

    def __init__(
        self,
        warehouse: asyncpg.Pool,
        cache: VersionedCache,
        campaigns: VersionedCache,
        days: int,
        pause_s: float,
    ) -> None:
        self.warehouse = warehouse
        self.cache = cache
        self.campaigns = campaigns
        self.days = days
        self.pause_s = pause_s
        self.warmed: int | None = None  # the data version of the last warm-up
        self._noticed: int | None = None  # the newest version a request read
        self._wanted = asyncio.Event()
        self._wanted.set()  # at start

    @property
    def enabled(self) -> bool:
        return self.days > 0 and self.cache.max_entries > 0

    def notice(self, version: int) -> None:
        """A request read data ``version`` (versions only grow): warm again if it is not
        the warmed one."""
        self._noticed = version
        if version != self.warmed:
            self._wanted.set()

    async def run(self) -> None:
        """Warm whenever wanted, until cancelled."""
        while self.enabled:
            await self._wanted.wait()
            self._wanted.clear()
            began = time.monotonic()
            try:
                self.warmed, added = await queries.warm_blocks(
                    self.warehouse, self.cache, self.campaigns, self.days
                )
                log.info("dashboard.warmup.done", version=self.warmed, blocks=added)
                if self._noticed is None or self._noticed <= self.warmed:
                    self._wanted.clear()  # no request read a newer version meanwhile
            except (asyncpg.PostgresError, OSError, TimeoutError) as e:
                log.warning("dashboard.warmup.failed", error=describe(e))
            await asyncio.sleep(max(0.0, began + self.pause_s - time.monotonic()))
