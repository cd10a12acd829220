"""Loading one (fact table, hour) into the warehouse, queueing hours, reading the status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from services.aggregator.errors import AggregateError
from services.aggregator.hours import HOUR, job_id
from services.aggregator.sql import load_params, load_statements
from shared.db import quote_ident
from shared.facts import FACT_TABLES, FactTable
from shared.logging import get_logger
from shared.queues import enqueue

__all__ = ["HourLocked", "load_hour", "locked_load", "enqueue_hours", "latest_hours"]

log = get_logger("forklift.aggregator")


class HourLocked(AggregateError):
    """Another worker is loading this (table, hour) right now."""


async def load_hour(pool: asyncpg.Pool, table: FactTable, hour: datetime) -> int:
    """Recompute ``table`` for [hour, hour+1h) into a staging table and replace that hour in
    one transaction; returns the rows written. A transaction-scoped advisory lock serialises
    concurrent loads of the same (table, hour) even without Redis."""
    create, fill, delete, insert = load_statements(table)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", job_id(table, hour))
        await conn.execute(create)
        await conn.execute(fill, *load_params(table, hour, hour + HOUR))
        await conn.execute(delete, hour)
        status = await conn.execute(insert)
    rows = int(status.split()[-1])
    log.debug("aggregate.hour.done", table=table.name, hour=hour.isoformat(), rows=rows)
    return rows


@asynccontextmanager
async def _redis_lock(redis: Redis, key: str, ttl_s: float) -> AsyncIterator[None]:
    lock = redis.lock(f"forklift:lock:{key}", timeout=ttl_s, blocking=False)
    if not await lock.acquire():
        raise HourLocked(f"{key} is being loaded by another worker")
    try:
        yield
    finally:
        await lock.release()


async def locked_load(
    pool: asyncpg.Pool, redis: Redis, table: FactTable, hour: datetime, lock_ttl_s: float
) -> int:
    """:func:`load_hour` under the Redis lock of (table, hour); :class:`HourLocked` if held."""
    async with _redis_lock(redis, job_id(table, hour), lock_ttl_s):
        return await load_hour(pool, table, hour)


async def enqueue_hours(
    redis: Redis, tables: Sequence[FactTable], hours: Iterable[datetime]
) -> int:
    """Queue ``aggregate_hour`` per (table, hour); returns how many were newly queued
    (an already queued (table, hour) collapses into the waiting job)."""
    queued = 0
    for hour in hours:
        for table in tables:
            job = await enqueue(
                redis,  # type: ignore[arg-type]
                "aggregator",
                "aggregate_hour",
                table.slug,
                hour.isoformat(),
                job_id=job_id(table, hour),
            )
            queued += job is not None
    return queued


async def latest_hours(pool: asyncpg.Pool) -> list[tuple[str, datetime | None, int]]:
    """(table, latest loaded hour, rows) per fact table."""
    result = []
    for table in FACT_TABLES:
        name = quote_ident(table.name)
        sql = f'SELECT max("hour") AS latest, count(*) AS rows FROM {name}'  # noqa: S608
        row = await pool.fetchrow(sql)
        result.append((table.name, row["latest"], row["rows"]))
    return result
