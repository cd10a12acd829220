"""One timer for many sleepers: the poller's users wait for their next poll here instead of
each arming an event-loop timer per poll. A single ticker wakes every ``tick_s`` while anyone
waits and releases everyone due by then, so the polls due within a tick start together, in
one pass of the loop (fewer loop iterations and timer syscalls per poll). Nobody is woken
early; a wait ends at most one tick (plus the loop's own lateness) after its time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["Wakeups"]


class Wakeups:
    """``await wakeups.at(when)``: until loop time ``when`` (a cancelled wait is dropped)."""

    def __init__(self, tick_s: float) -> None:
        self.tick_s = tick_s
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, when: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (when, next(self._order), future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="rainforest-wakeups")
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        heap = self._heap
        while heap:
            now = loop.time()
            while heap and heap[0][0] <= now:
                future = heapq.heappop(heap)[2]
                if not future.done():
                    future.set_result(None)
            if heap:
                await asyncio.sleep(self.tick_s)

    def close(self) -> None:
        """Stop the ticker; waits still pending stay pending (their tasks are being stopped)."""
        if self._task is not None:
            self._task.cancel()
