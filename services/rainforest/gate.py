"""The bound on the poller's requests in flight, at a constant cost per poll.

``asyncio.Semaphore`` (Python 3.11) scans its waiters on every acquire and release: once a
late loop lets thousands of polls queue behind a full semaphore, each poll costs time in
proportion to the queue, which makes the loop later still. Here a poll takes a free place
without awaiting anything, and a full gate queues its waiters first come, first served; a
place freed goes straight to the first one still waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Gate"]


class Gate:
    """At most ``limit`` holders: ``if not gate.enter_now(): await gate.enter()``, then
    ``gate.leave()`` once done (not after a cancelled ``enter``: it holds no place then)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def enter_now(self) -> bool:
        """Take a place if one is free and nobody is waiting for one."""
        if self.taken < self.limit and not self._waiters:
            self.taken += 1
            return True
        return False

    async def enter(self) -> None:
        """Until a place is this caller's."""
        if self.enter_now():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a place as it was cancelled
                self.leave()
            raise

    def leave(self) -> None:
        """Free a place: the first caller still waiting gets it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the place passes on: ``taken`` stays
                return
        self.taken -= 1
