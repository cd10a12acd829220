"""The poller's recorder: readings are queued in memory and, every ``flush_interval_s``,
counted in Redis (one script call per 500 readings), then queued for the log writer.

Redis decides what is written: a reading is written only if the poller still holds the lease
on the user's shard (a poller that lost a shard can never append to its users' files) and it
does not repeat the user's last reading. Lines the API fetched for users of this poller's
shards (``GET /api/event``) are taken from Redis in the same flush and written too, so every
user's file has one writer. When Redis does not answer, readings of shards whose lease is
still valid locally are written anyway (nobody else can hold those shards yet) and only their
counters are lost.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from redis.exceptions import RedisError

from services.rainforest.logfiles import LogWriter
from services.rainforest.membership import Lease
from services.rainforest.readings import log_file_of, reading_line
from services.rainforest.users import UserStore
from shared.heartbeat import Heartbeat
from shared.logging import get_logger
from shared.outage import OutageLog

__all__ = ["Recorder"]

log = get_logger("forklift.rainforest.recorder")

COUNT_CHUNK = 500  # readings per script call: a bounded pause for Redis and for our loop


class Recorder:
    """Counts and writes the readings of the shards in ``leases`` (the poller's own view)."""

    def __init__(
        self,
        store: UserStore,
        writer: LogWriter,
        flush_interval_s: float,
        leases: dict[int, Lease],
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.flush_interval_s = flush_interval_s
        self.leases = leases
        self.heartbeat = heartbeat
        self._inbox_outage = OutageLog(log, "rainforest.record.inbox_failed")
        self._count_outage = OutageLog(log, "rainforest.record.redis_failed")
        self.logged = 0
        self.duplicates = 0
        self.fenced = 0
        self._pending: list[tuple[int, dict[str, Any], str, float]] = []
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, shard: int, reading: dict[str, Any], polled_at: float) -> None:
        """Queue ``reading`` of a user in ``shard``, polled at Unix time ``polled_at``."""
        self._pending.append((shard, reading, reading_line(reading), polled_at))

    async def _count(self, batch: list[tuple[int, dict[str, Any], str, float]]) -> str:
        """One letter per reading (see ``UserStore.record_batch``); when Redis does not
        answer, 'A' for the readings whose lease is still valid here, else 'F'."""
        tokens = {shard: lease.token for shard, lease in self.leases.items()}
        codes = ""
        try:
            for start in range(0, len(batch), COUNT_CHUNK):
                codes += await self.store.record_batch(tokens, batch[start : start + COUNT_CHUNK])
            self._count_outage.ok()
            return codes
        except (RedisError, OSError) as e:
            now = asyncio.get_running_loop().time()
            uncounted = "".join(
                "A" if (lease := self.leases.get(shard)) and lease.valid(now) else "F"
                for shard, _, _, _ in batch[len(codes) :]
            )
            # the first failure of an outage is logged; the fenced ones are in self.fenced
            self._count_outage.failed(e, written_uncounted=uncounted.count("A"))
            return codes + uncounted

    async def _from_api(self) -> list[tuple[str, str]]:
        """Lines the API left in Redis for the shards this poller holds."""
        lines = []
        for shard in sorted(await self.store.waiting_shards() & self.leases.keys()):
            lease = self.leases.get(shard)
            if lease is not None:
                for line in await self.store.drain(shard, lease.token):
                    lines.append((log_file_of(json.loads(line)), line))
        return lines

    async def flush(self, *, written: bool = False) -> int:
        """Count the queued readings and queue the counted ones and the API's for the log
        writer (with ``written``, also wait until they are on disk); returns the lines."""
        async with self._lock:
            batch, self._pending = self._pending, []
            lines: list[tuple[str, str]] = []
            if batch:
                codes = await self._count(batch)
                for (_, reading, line, _), code in zip(batch, codes, strict=True):
                    if code == "A":
                        lines.append((log_file_of(reading), line))
                self.duplicates += codes.count("S")
                self.fenced += codes.count("F")
            try:
                lines += await self._from_api()
                self._inbox_outage.ok()
            except (RedisError, OSError) as e:
                self._inbox_outage.failed(e)
            self.writer.submit(lines)
            self.logged += len(lines)
            if lines and self.heartbeat is not None:
                try:
                    await self.heartbeat.count("rows", len(lines))
                except (RedisError, OSError):
                    pass  # the ops counter only; the readings are counted and written
        if written:
            await self.writer.drain()
        return len(lines)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self.flush_interval_s)
            except TimeoutError:
                pass
            started = time.monotonic()
            try:
                await self.flush()
            except Exception as e:  # noqa: BLE001 - keep flushing; this batch is logged as lost
                log.error("rainforest.record.flush_failed", error=f"{type(e).__name__}: {e}")
            if time.monotonic() - started > self.flush_interval_s * 4:
                log.warning(
                    "rainforest.record.slow_flush", seconds=round(time.monotonic() - started, 3)
                )

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="rainforest-recorder")

    async def close(self) -> None:
        """Stop the flusher after its in-flight flush, then flush and write what is left."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush(written=True)
