"""The pump: claim a batch from the queues, read it from DynamoDB, upsert it, acknowledge.

``concurrency`` loops run per process; several processes share the queues and the budget.
A key leaves "in flight" only after its batch committed; a failed batch goes back to its
queue and the loop backs off (exponentially, capped) so an unreachable DynamoDB or
warehouse does not spin. Bad items are stored cleaned or skipped, counted and logged.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis

from services.dynamo_pump.convert import blank_user_row, edge_row, user_row
from services.dynamo_pump.fetch import Fetched, Fetcher
from services.dynamo_pump.limiter import BURST_S
from services.dynamo_pump.settings import DynamoSettings
from services.dynamo_pump.store import plan_candidates, replace_edges, upsert_users
from services.dynamo_pump.workqueue import KINDS, WorkQueues
from shared.errors import describe
from shared.heartbeat import Heartbeat
from shared.logging import get_logger

__all__ = ["Pump", "plan"]

log = get_logger("forklift.dynamo")

STATE_KEY = "forklift:dynamo:state"


@dataclass
class Pump:
    """Everything a pump loop needs; ``heartbeat`` is optional (CLI use)."""

    settings: DynamoSettings
    warehouse: asyncpg.Pool
    redis: Redis
    queues: WorkQueues
    fetcher: Fetcher
    heartbeat: Heartbeat | None = None
    skipped: Counter[str] = field(default_factory=Counter)

    async def _count(self, name: str, amount: int) -> None:
        if self.heartbeat is not None and amount:
            await self.heartbeat.count(name, amount)

    async def process(self, kind: str, fbids: list[int]) -> dict[str, Any]:
        """Fetch and store one batch; returns the rows written (does not touch the queues)."""
        now = datetime.now(UTC)
        if kind == "edges":
            fetched, empty = Fetched(), []
            for fbid in fbids:
                if await self.fetcher.edges(fbid, fetched) == 0:
                    empty.append(fbid)
            rows = self._rows(fetched, lambda item: edge_row(item, now))
            written = await replace_edges(self.warehouse, fbids, rows, empty)
            result = {"kind": kind, "edges": written, "empty": len(empty)}
        else:
            fetched = await self.fetcher.users(fbids)
            rows = self._rows(
                fetched, lambda item: user_row(item, now, self.settings.string_max_chars)
            )
            rows += [blank_user_row(f, now) for f in fetched.missing]
            written = await upsert_users(self.warehouse, rows)
            result = {"kind": kind, "users": written, "not_found": len(fetched.missing)}
        await self._count("rows", written)
        await self._count("throttles", fetched.throttles)
        return {**result, "rcu": fetched.rcu, "throttles": fetched.throttles, "rows": rows}

    def _rows(self, fetched: Fetched, convert: Any) -> list[tuple[Any, ...]]:
        rows = []
        for item in fetched.items:
            row, reasons = convert(item)
            for reason in reasons:
                self.skipped[reason] += 1
                log.warning("dynamo.item.cleaned", reason=reason, skipped=row is None)
            if row is not None:
                rows.append(row)
        return rows

    async def _renew_lease(self, kind: str, fbids: list[int]) -> None:
        """Keep a batch's lease alive while it is processed (leases are short, so a crashed
        pump's keys return within one lease)."""
        while True:
            await asyncio.sleep(self.queues.lease_s / 3)
            await self.queues.renew(kind, fbids)

    async def step(self) -> bool:
        """Claim and process one batch; False when every queue is empty."""
        # A batch never reserves more than the bucket holds (0.5 RCU per key estimated).
        budget_keys = max(1, int(self.settings.rcu_per_second * BURST_S / 0.5))
        limits = {k: min(self.settings.user_batch_size, budget_keys) for k in KINDS}
        limits["edges"] = self.settings.edge_batch_size
        claim = await self.queues.claim(limits)
        if claim is None:
            return False
        kind, fbids = claim
        renewing = asyncio.create_task(self._renew_lease(kind, fbids))
        try:
            result = await self.process(kind, fbids)
        except BaseException:
            await asyncio.shield(self.queues.release(kind, fbids))
            raise
        finally:
            renewing.cancel()
        await self.queues.ack(kind, fbids)
        log.info("dynamo.batch.done", kind=kind, keys=len(fbids), rcu=result["rcu"])
        return True

    async def run_loop(self) -> None:
        """Process batches until cancelled, sleeping when idle and backing off on errors."""
        failures = 0
        while True:
            try:
                busy = await self.step()
                failures = 0
                await self.redis.hset(STATE_KEY, mapping={"last_ok": time.time(), "error": ""})
            except Exception as e:  # the loop's catch-all: the batch went back to its queue
                failures += 1
                delay_s = min(self.settings.error_backoff_max_s, 0.5 * 2**failures)
                log.error("dynamo.batch.failed", error=describe(e), retry_in_s=delay_s)
                await self._count("errors", 1)
                await self.redis.hset(
                    STATE_KEY,
                    mapping={"error": f"{type(e).__name__}: {e}", "error_at": time.time()},
                )
                await asyncio.sleep(delay_s * (0.5 + random.random()))
                continue
            if not busy:
                await self.queues.requeue_expired()
                await asyncio.sleep(self.settings.idle_sleep_s)

    async def run(self) -> None:
        """Run ``concurrency`` loops (the pump's background task)."""
        await self.queues.requeue_expired()
        async with asyncio.TaskGroup() as group:
            for _ in range(self.settings.concurrency):
                group.create_task(self.run_loop())


async def plan(settings: DynamoSettings, warehouse: asyncpg.Pool, queues: WorkQueues) -> dict:
    """Re-plan every queue from the warehouse; the count of keys added per queue."""
    await queues.requeue_expired()
    added = {}
    for kind in KINDS:
        fbids = await plan_candidates(
            warehouse,
            kind,
            settings.plan_limit,
            settings.not_found_recheck_days * 86400,
            settings.refresh_age_days * 86400,
        )
        added[kind] = await queues.push(kind, fbids)
    log.info("dynamo.plan.done", **added)
    return added
