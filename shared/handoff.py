"""Waking another service after a commit, by queue and job name only (services do not
import each other). A wake-up is best effort: what must not be lost is committed first
(the aggregator's outbox), or re-derived on a schedule (the dynamo pump's plan), so a
failed wake-up only delays the work."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import describe
from shared.logging import get_logger
from shared.queues import enqueue

__all__ = ["DYNAMO_PLAN_TABLES", "DYNAMO_PLAN_JOB", "wake"]

log = get_logger("forklift.handoff")

# Warehouse tables whose new rows give the dynamo pump new fbids to fetch.
DYNAMO_PLAN_TABLES = frozenset({"user_clients", "visitors"})
DYNAMO_PLAN_JOB = "plan_job"


async def wake(
    redis: Redis, service: str, function: str, *args: Any, job_id: str | None = None
) -> bool:
    """Queue ``function`` on ``service`` (duplicates of ``job_id`` collapse); False, with a
    warning naming the error, if Redis did not take it."""
    try:
        await enqueue(redis, service, function, *args, job_id=job_id)  # type: ignore[arg-type]
    except (RedisError, OSError, TimeoutError) as e:
        log.warning("handoff.wake_failed", service=service, job=function, error=describe(e))
        return False
    log.debug("handoff.woken", service=service, job=function)
    return True
