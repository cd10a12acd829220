"""The six-second poller: one asyncio task per active user, starts spread over the period,
bounded concurrency, a timeout per request, per-user backoff and auth pause.

State per user: ``ok`` (polling every period), ``backoff`` (timeouts, 5xx, garbage: the wait
doubles per failure up to ``backoff_cap_s``), ``auth_failed`` (not polled until the user record
changes). The poller reloads users when ``rainforest:version`` changes (checked every period).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import defaultdict, deque
from typing import Any

import aiohttp

from services.rainforest.adapters import Gateway, fetch_reading
from services.rainforest.errors import BadCredentials, RainforestError
from services.rainforest.logfiles import LogWriter
from services.rainforest.readings import dedupe_key, get_wait_time
from services.rainforest.settings import RainforestSettings
from services.rainforest.users import UserStore
from shared.heartbeat import Heartbeat
from shared.logging import get_logger

__all__ = ["Recorder", "Poller", "backoff_s", "start_offset_s"]

log = get_logger("forklift.rainforest.poller")


def backoff_s(failures: int, period_s: float, cap_s: float) -> float:
    """Wait after ``failures`` consecutive failures: period x 2^(failures-1), capped."""
    return min(cap_s, period_s * 2 ** max(0, failures - 1))


def start_offset_s(cloud_id: str, period_s: float) -> float:
    """A stable offset in [0, period) spreading users' polls over the period."""
    return (zlib.crc32(cloud_id.encode()) % 10_000) / 10_000 * period_s


class Recorder:
    """Logs a reading unless it repeats the user's last one (same cloud_id, meter, eagle_time).

    Lines and Redis counters are batched: ``flush()`` (every ``flush_interval_s`` once
    started) writes the queued lines and counts the readings in one pipeline."""

    def __init__(
        self,
        store: UserStore,
        writer: LogWriter,
        flush_interval_s: float,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.store = store
        self.heartbeat = heartbeat
        self.writer = writer
        self.flush_interval_s = flush_interval_s
        self._last: dict[str, str] = {}
        self._uncounted: list[dict[str, Any]] = []
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def record(self, reading: dict[str, Any]) -> bool:
        cloud_id = reading["cloud_id"]
        if cloud_id not in self._last:
            previous = await self.store.last_reading(cloud_id)
            self._last[cloud_id] = dedupe_key(previous) if previous else ""
        key = dedupe_key(reading)
        if self._last[cloud_id] == key:
            return False
        self._last[cloud_id] = key
        self.writer.append(reading)
        self._uncounted.append(reading)
        return True

    async def flush(self) -> None:
        """Write queued lines, then count their readings in Redis."""
        batch, self._uncounted = self._uncounted, []
        await self.writer.flush()
        if batch:
            await self.store.record_many(batch)
            if self.heartbeat is not None:
                await self.heartbeat.count("rows", len(batch))

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self.flush_interval_s)
            except TimeoutError:
                pass
            try:
                await self.flush()
            except Exception as e:  # noqa: BLE001 - keep flushing; a failed batch's counters are lost
                log.error("rainforest.record.flush_failed", error=f"{type(e).__name__}: {e}")

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="rainforest-recorder")

    async def close(self) -> None:
        """Stop the flusher after its in-flight flush, flush the rest, close the files."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
        await self.writer.close()


class Poller:
    """Polls every active user; ``lateness_s`` keeps each poll's delay past its due time."""

    def __init__(
        self,
        settings: RainforestSettings,
        store: UserStore,
        recorder: Recorder,
        session: aiohttp.ClientSession,
    ) -> None:
        self.settings = settings
        self.store = store
        self.recorder = recorder
        self.session = session
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._main: asyncio.Task[None] | None = None
        self.failed_polls = 0
        self.lateness_s: deque[float] = deque(maxlen=200_000)
        self.polls: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=100))

    @property
    def running(self) -> bool:
        """The poll loop is up (False with ``--no-poller`` or after it stopped)."""
        return self._main is not None and not self._main.done()

    @property
    def users_polled(self) -> int:
        return len(self._tasks)

    async def reload(self) -> None:
        """Start/stop/restart user tasks to match Redis (a changed record restarts its task)."""
        cloud_ids = await self.store.cloud_ids()
        wanted = {
            cloud_id: raw
            for cloud_id, raw in zip(cloud_ids, await self.store.raw_many(cloud_ids), strict=True)
            if raw.get("active") == "1" and raw.get("status") not in ("auth_failed", "error")
        }
        for cloud_id in list(self._tasks):
            stamp, task = self._tasks[cloud_id]
            if cloud_id not in wanted or wanted[cloud_id].get("updated_at", "") != stamp:
                task.cancel()
                del self._tasks[cloud_id]
        for cloud_id, raw in wanted.items():
            if cloud_id not in self._tasks:
                try:
                    gateway = self.store.gateway(raw)
                except RainforestError as e:
                    await self._set_status(cloud_id, "error", str(e))
                    continue
                task = asyncio.create_task(self._poll_user(gateway), name=f"poll-{cloud_id}")
                self._tasks[cloud_id] = (raw.get("updated_at", ""), task)
        log.info("rainforest.poller.reload", users=len(self._tasks))

    async def poll_once(self, gateway: Gateway) -> dict[str, Any]:
        """Fetch and record one reading (bounded by the semaphore and the request timeout)."""
        async with self._semaphore:
            reading = await fetch_reading(
                self.session,
                self.settings.relay_url,
                gateway,
                self.settings.request_timeout_s,
                self.settings.networks,
            )
        await self.recorder.record(reading)
        return reading

    async def _poll_user(self, gateway: Gateway) -> None:
        period_s = self.settings.poll_period_s
        await asyncio.sleep(start_offset_s(gateway.cloud_id, period_s))
        failures = 0
        due_s = time.monotonic()
        while True:
            started_s = time.monotonic()
            self.lateness_s.append(started_s - due_s)
            self.polls[gateway.cloud_id].append(started_s)
            try:
                await self.poll_once(gateway)
            except BadCredentials as e:
                log.warning("rainforest.poll.auth_failed", cloud_id=gateway.cloud_id, error=str(e))
                await self._set_status(gateway.cloud_id, "auth_failed", str(e))
                return
            except Exception as e:  # noqa: BLE001 - one user's error never stops the poller
                failures += 1
                self.failed_polls += 1
                if failures in (1, 5, 10) or failures % 100 == 0:
                    log.warning(
                        "rainforest.poll.failed",
                        cloud_id=gateway.cloud_id,
                        error=f"{type(e).__name__}: {e}",
                        failures=failures,
                    )
                await self._set_status(gateway.cloud_id, "backoff", f"{failures} failures: {e}")
                due_s = started_s + backoff_s(failures, period_s, self.settings.backoff_cap_s)
                await asyncio.sleep(max(0.0, due_s - time.monotonic()))
            else:
                failures = 0
                # due a period after this start: an overrun poll makes the next one late
                due_s = started_s + period_s
                await asyncio.sleep(get_wait_time(started_s, time.monotonic(), period_s))

    async def _set_status(self, cloud_id: str, status: str, detail: str) -> None:
        try:
            await self.store.set_status(cloud_id, status, detail)
        except Exception as e:  # noqa: BLE001 - Redis trouble must not kill the user's task
            log.error("rainforest.poll.status_failed", cloud_id=cloud_id, error=str(e))

    async def _run(self) -> None:
        version = None
        while True:
            try:
                current = await self.store.version()
                if current != version:
                    await self.reload()
                    version = current
            except Exception as e:  # noqa: BLE001 - the poller never dies; retried next period
                log.error("rainforest.poller.reload_failed", error=f"{type(e).__name__}: {e}")
            await asyncio.sleep(self.settings.poll_period_s)

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="rainforest-poller")

    async def stop(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        if self._main is not None:
            tasks.append(self._main)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
