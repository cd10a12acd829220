"""Service heartbeats in Redis, and the one reader the ops status uses.

Each running process keeps a hash ``forklift:heartbeat:<service>:<instance>`` that expires
when beats stop (``<instance>`` is ``<host>:<pid>:<nonce>``, unique even when a container
restarts with the same host name and pid), and every job outcome also updates
``forklift:service:<service>``, which outlives processes (last success, last failure and
error, totals). A worker also lists the jobs it is running in
``forklift:running:<service>:<instance>``, so others can release them if it dies
(``shared.recovery``).

Beats are best effort: while Redis is unreachable the process keeps working and beats again
when Redis answers.

A process may add its own figures to its record with ``annotate()`` (the rainforest poller:
its shards, users and poll lateness); the ops status shows them as the process's ``info``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import describe
from shared.logging import get_logger
from shared.outage import OutageLog
from shared.queues import queue_depth

__all__ = ["Heartbeat", "ServiceStatus", "read_service_status"]

log = get_logger("forklift.heartbeat")

HEARTBEAT_PREFIX = "forklift:heartbeat:"
SERVICE_PREFIX = "forklift:service:"
RUNNING_PREFIX = "forklift:running:"


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Heartbeat:
    """One process's liveness record; ``beat()`` on a timer, ``job_ok``/``job_failed`` per job."""

    def __init__(self, redis: Redis, service: str, interval_s: float = 2.0) -> None:
        self.redis = redis
        self.service = service
        self.interval_s = interval_s
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.instance = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"
        self.key = f"{HEARTBEAT_PREFIX}{service}:{self.instance}"
        self.running_key = f"{RUNNING_PREFIX}{service}:{self.instance}"
        self.started = time.time()
        self._task: asyncio.Task[None] | None = None

    @property
    def ttl_s(self) -> int:
        """How long the record outlives the last beat: three missed beats mean dead."""
        return int(self.interval_s * 3) + 1

    async def beat(self, **fields: Any) -> None:
        """Write this process's record with a fresh ``last_beat``; extra fields are kept."""
        mapping = {
            "service": self.service,
            "host": self.host,
            "pid": self.pid,
            "started": self.started,
            "last_beat": time.time(),
            **{k: str(v) for k, v in fields.items()},
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping=mapping)
            pipe.expire(self.key, self.ttl_s)
            await pipe.execute()

    async def job_started(self, job_id: str) -> None:
        """List ``job_id`` as running in this process (until :meth:`job_ended`). Best effort:
        unlisted, a job of a crashed worker waits for arq's own timeout instead."""
        try:
            await self.redis.hset(self.running_key, job_id, time.time())
        except (RedisError, OSError) as e:
            log.warning("heartbeat.job_unlisted", job_id=job_id, error=describe(e))

    async def job_ended(self, job_id: str) -> None:
        try:
            await self.redis.hdel(self.running_key, job_id)
        except (RedisError, OSError) as e:  # the listing goes with the process record
            log.warning("heartbeat.job_not_delisted", job_id=job_id, error=describe(e))

    async def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to a service counter (rows loaded, items fetched...)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.key, f"count:{name}", amount)
            pipe.hincrby(SERVICE_PREFIX + self.service, f"count:{name}", amount)
            await pipe.execute()

    async def annotate(self, **info: Any) -> None:
        """Publish this process's own figures (``info:<name>`` fields of its record)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping={f"info:{k}": str(v) for k, v in info.items()})
            pipe.expire(self.key, self.ttl_s)
            await pipe.execute()

    async def job_ok(self, job: str) -> None:
        """Record a successful job."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.key, mapping={"last_ok": now, "last_job": job})
            pipe.hincrby(self.key, "jobs_ok", 1)
            pipe.hset(SERVICE_PREFIX + self.service, mapping={"last_ok": now})
            pipe.hincrby(SERVICE_PREFIX + self.service, "jobs_ok", 1)
            await pipe.execute()

    async def job_failed(self, job: str, error: str) -> None:
        """Record a failed job and its error text."""
        now = time.time()
        mapping = {"last_failed": now, "last_error": f"{job}: {error}"[:500]}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.key, mapping=mapping)
            pipe.hincrby(self.key, "jobs_failed", 1)
            pipe.hset(SERVICE_PREFIX + self.service, mapping=mapping)
            pipe.hincrby(SERVICE_PREFIX + self.service, "jobs_failed", 1)
            await pipe.execute()

    async def _run(self) -> None:
        outage = OutageLog(log, "heartbeat.redis_unreachable", service=self.service)
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.beat()
            except (RedisError, OSError) as e:
                outage.failed(e)
                continue
            outage.ok()

    async def start(self) -> None:
        """Beat now and then every ``interval_s`` in the background."""
        await self.beat()
        self._task = asyncio.create_task(self._run(), name=f"heartbeat:{self.service}")

    async def stop(self) -> None:
        """Stop beating and remove this process's records (if Redis still answers: else
        they expire, and other workers release what this one listed as running)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.redis.delete(self.key, self.running_key)
        except (RedisError, OSError) as e:
            log.warning("heartbeat.stop.redis_unreachable", service=self.service, error=describe(e))


@dataclass
class ServiceStatus:
    """What ops sees of one service: live processes, last outcomes, queue depth."""

    service: str
    processes: list[dict[str, Any]] = field(default_factory=list)
    last_ok: float | None = None
    last_failed: float | None = None
    last_error: str | None = None
    jobs_ok: int = 0
    jobs_failed: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    queue_depth: int = 0

    @property
    def alive(self) -> bool:
        return bool(self.processes)

    @property
    def lag_s(self) -> float | None:
        """Seconds since the last successful job, or None if there never was one."""
        return None if self.last_ok is None else max(0.0, time.time() - self.last_ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "alive": self.alive,
            "processes": self.processes,
            "last_ok": self.last_ok,
            "last_failed": self.last_failed,
            "last_error": self.last_error,
            "lag_s": self.lag_s,
            "jobs_ok": self.jobs_ok,
            "jobs_failed": self.jobs_failed,
            "counters": self.counters,
            "queue_depth": self.queue_depth,
        }


def _decode_hash(raw: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}  # type: ignore[misc]


def _counters(record: dict[str, str]) -> dict[str, int]:
    return {k.removeprefix("count:"): int(v) for k, v in record.items() if k.startswith("count:")}


async def read_service_status(redis: Redis, services: Iterable[str]) -> list[ServiceStatus]:
    """The status of each service in ``services``: heartbeats (found with SCAN), totals, queue."""
    statuses = []
    for service in services:
        status = ServiceStatus(service=service)
        async for key in redis.scan_iter(match=f"{HEARTBEAT_PREFIX}{service}:*", count=200):
            record = _decode_hash(await redis.hgetall(key))
            if record:
                status.processes.append(
                    {
                        "host": record.get("host"),
                        "pid": int(record.get("pid", 0)),
                        "started": float(record.get("started", 0)),
                        "last_beat": float(record.get("last_beat", 0)),
                        "jobs_ok": int(record.get("jobs_ok", 0)),
                        "jobs_failed": int(record.get("jobs_failed", 0)),
                        "counters": _counters(record),
                        "info": {
                            k.removeprefix("info:"): v
                            for k, v in record.items()
                            if k.startswith("info:")
                        },
                    }
                )
        totals = _decode_hash(await redis.hgetall(SERVICE_PREFIX + service))
        status.last_ok = float(totals["last_ok"]) if "last_ok" in totals else None
        status.last_failed = float(totals["last_failed"]) if "last_failed" in totals else None
        status.last_error = totals.get("last_error")
        status.jobs_ok = int(totals.get("jobs_ok", 0))
        status.jobs_failed = int(totals.get("jobs_failed", 0))
        status.counters = _counters(totals)
        status.queue_depth = await queue_depth(redis, service)
        statuses.append(status)
    return statuses
