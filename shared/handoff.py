"""Work one service hands another after its commit, by queue name and job name only (services
do not import each other): the dynamo pump re-plans as soon as sync lands the tables its
plan reads, instead of waiting for its next scheduled plan."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.queues import enqueue

__all__ = ["DYNAMO_PLAN_TABLES", "DYNAMO_PLAN_JOB", "request_dynamo_plan"]

# Warehouse tables whose new rows give the dynamo pump new fbids to fetch.
DYNAMO_PLAN_TABLES = frozenset({"user_clients", "visitors"})
DYNAMO_PLAN_JOB = "plan_job"


async def request_dynamo_plan(redis: Redis) -> None:
    """Queue one re-plan of the dynamo pump; requests while one is queued collapse into it."""
    await enqueue(redis, "dynamo_pump", DYNAMO_PLAN_JOB, job_id="dynamo:plan")
