"""arq wiring: one queue per service, Redis settings from a URL, enqueue and cron helpers."""

from __future__ import annotations

from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob, cron
from arq.jobs import Job

__all__ = [
    "ArqRedis",
    "queue_name",
    "redis_settings",
    "connect_queue",
    "enqueue",
    "queue_depth",
    "every_minutes",
]

QUEUE_PREFIX = "forklift:queue:"


def queue_name(service: str) -> str:
    """The arq queue a service's worker reads: ``forklift:queue:<service>``."""
    return QUEUE_PREFIX + service


def redis_settings(redis_url: str, timeout_s: float = 10.0) -> RedisSettings:
    """arq RedisSettings for ``redis_url`` with a connection timeout."""
    settings = RedisSettings.from_dsn(redis_url)
    settings.conn_timeout = int(max(1, timeout_s))
    settings.conn_retries = 3
    return settings


async def connect_queue(redis_url: str) -> ArqRedis:
    """An ArqRedis pool (also a plain redis client) for enqueuing and reading state."""
    return await create_pool(redis_settings(redis_url))


async def enqueue(
    redis: ArqRedis,
    service: str,
    function: str,
    *args: Any,
    job_id: str | None = None,
    defer_by_s: float | None = None,
    **kwargs: Any,
) -> Job | None:
    """Queue ``function`` on ``service``'s queue. With ``job_id``, duplicates of a queued or
    running job collapse into one (arq returns None for the duplicate)."""
    return await redis.enqueue_job(
        function,
        *args,
        _job_id=job_id,
        _queue_name=queue_name(service),
        _defer_by=defer_by_s,
        **kwargs,
    )


async def queue_depth(redis: ArqRedis, service: str) -> int:
    """How many jobs wait on ``service``'s queue (queued and deferred)."""
    return int(await redis.zcard(queue_name(service)))


def every_minutes(coroutine: Any, minutes: int, **kwargs: Any) -> CronJob:
    """An arq cron job running ``coroutine`` every ``minutes`` minutes (1..60), unique per run."""
    if not 1 <= minutes <= 60:
        raise ValueError(f"cron interval must be 1..60 minutes, got {minutes}")
    return cron(coroutine, minute=set(range(0, 60, minutes)), second=0, unique=True, **kwargs)
