"""Releasing the jobs of dead workers, so a crash costs seconds, not a job timeout.

arq marks a running job with an ``in-progress`` key that lives for the longest job timeout
of the worker; if the worker dies, the job (still in its queue) waits for that key to expire.
Every forklift worker lists its running jobs beside its heartbeat (``shared.heartbeat``).
:class:`Reaper` runs in every worker: a listing whose heartbeat has been gone for one more
couple of heartbeats belongs to a dead process, so its jobs' in-progress keys are deleted and
a live worker picks the jobs up at its next poll.
"""

from __future__ import annotations

import asyncio
import time

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import describe
from shared.heartbeat import HEARTBEAT_PREFIX, RUNNING_PREFIX
from shared.logging import get_logger

__all__ = ["Reaper"]

log = get_logger("forklift.recovery")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Reaper:
    """Finds ``service``'s dead workers every ``interval_s`` and releases their jobs.

    A worker counts as dead when its heartbeat record (which outlives three missed beats) is
    missing on two looks at least ``grace_s`` apart; with ``grace_s`` two beat periods, a
    live worker whose Redis was unreachable has beaten again before it could be robbed.
    """

    def __init__(self, redis: Redis, service: str, grace_s: float, interval_s: float) -> None:
        self.redis = redis
        self.service = service
        self.grace_s = grace_s
        self.interval_s = interval_s
        self._missing_since: dict[str, float] = {}

    async def sweep(self) -> list[str]:
        """One look: release the jobs of workers dead for ``grace_s``; the job ids released."""
        released: list[str] = []
        now = time.monotonic()
        seen = set()
        prefix = f"{RUNNING_PREFIX}{self.service}:"
        async for raw_key in self.redis.scan_iter(match=prefix + "*", count=200):
            key = _text(raw_key)
            instance = key.removeprefix(prefix)
            seen.add(instance)
            if await self.redis.exists(f"{HEARTBEAT_PREFIX}{self.service}:{instance}"):
                self._missing_since.pop(instance, None)
                continue
            first_missing = self._missing_since.setdefault(instance, now)
            if now - first_missing < self.grace_s:
                continue
            job_ids = [_text(j) for j in await self.redis.hkeys(key)]
            async with self.redis.pipeline(transaction=True) as pipe:
                for job_id in job_ids:
                    pipe.delete(in_progress_key_prefix + job_id)
                pipe.delete(key)
                await pipe.execute()
            self._missing_since.pop(instance, None)
            log.warning(
                "worker.dead.jobs_released", service=self.service, worker=instance, jobs=job_ids
            )
            released += job_ids
        for gone in self._missing_since.keys() - seen:
            del self._missing_since[gone]
        return released

    async def run(self) -> None:
        """Sweep every ``interval_s`` until cancelled; Redis errors wait for the next sweep."""
        while True:
            try:
                await self.sweep()
            except (RedisError, OSError) as e:
                log.debug(
                    "worker.reaper.redis_unreachable", service=self.service, error=describe(e)
                )
            await asyncio.sleep(self.interval_s)
