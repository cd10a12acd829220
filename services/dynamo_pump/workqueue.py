"""Persistent, de-duplicated work queues in Redis with strict priority and in-flight leases.

Each kind has a sorted set ``forklift:dynamo:queue:<kind>`` of fbids (score = time queued,
oldest first). Claiming moves keys atomically (Lua) to ``forklift:dynamo:inflight`` with a
lease deadline, which the pump renews while it works on the batch; a key leaves "in flight"
only when its batch committed (:func:`ack`). Every claim first returns expired leases (a
crashed pump's) to the front of their queues, so priority holds the moment a lease runs out. A fbid is never queued twice for the
same fetch: user kinds share one de-duplication (a fbid queued as primary is not queued again
as secondary or refresh), and a key in flight is never re-queued.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

__all__ = ["KINDS", "USER_KINDS", "Claim", "WorkQueues"]

KINDS = ("primary", "edges", "secondary", "refresh")  # strict priority order
USER_KINDS = ("primary", "secondary", "refresh")
PREFIX = "forklift:dynamo:"
INFLIGHT = PREFIX + "inflight"

Claim = tuple[str, list[int]]

# KEYS: the kind's queue, the other queues of the same fetch, inflight. ARGV: now, fbids...
_PUSH = """
local added = 0
local now = tonumber(ARGV[1])
for i = 2, #ARGV do
  local fbid = ARGV[i]
  local known = redis.call('ZSCORE', KEYS[#KEYS], KEYS[1] .. '|' .. fbid)
  for k = 1, #KEYS - 1 do
    if known then break end
    known = redis.call('ZSCORE', KEYS[k], fbid)
    if not known then
      known = redis.call('ZSCORE', KEYS[#KEYS], KEYS[k] .. '|' .. fbid)
    end
  end
  if not known then
    redis.call('ZADD', KEYS[1], now, fbid)
    added = added + 1
  end
end
return added
"""

# Expired leases go back to the front of their queue (members are "<queue key>|<fbid>").
_REQUEUE_FUNCTION = """
local function requeue_expired(inflight, now)
  local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', now)
  for _, member in ipairs(expired) do
    local sep = string.find(member, '|', 1, true)
    redis.call('ZADD', string.sub(member, 1, sep - 1), 0, string.sub(member, sep + 1))
    redis.call('ZREM', inflight, member)
  end
  return #expired
end
"""

# KEYS: inflight. ARGV: now.
_REQUEUE = _REQUEUE_FUNCTION + "return requeue_expired(KEYS[1], ARGV[1])"

# KEYS: queues in priority order, inflight. ARGV: now, lease deadline, one limit per queue.
_CLAIM = (
    _REQUEUE_FUNCTION
    + """
requeue_expired(KEYS[#KEYS], ARGV[1])
for k = 1, #KEYS - 1 do
  local popped = redis.call('ZPOPMIN', KEYS[k], tonumber(ARGV[k + 2]))
  if #popped > 0 then
    local fbids = {}
    for i = 1, #popped, 2 do
      redis.call('ZADD', KEYS[#KEYS], ARGV[2], KEYS[k] .. '|' .. popped[i])
      table.insert(fbids, popped[i])
    end
    return {KEYS[k], fbids}
  end
end
return false
"""
)


def queue_key(kind: str) -> str:
    return f"{PREFIX}queue:{kind}"


def _same_fetch(kind: str) -> tuple[str, ...]:
    return USER_KINDS if kind in USER_KINDS else (kind,)


class WorkQueues:
    """The pump's queues on one Redis connection."""

    def __init__(self, redis: Redis, lease_s: float) -> None:
        self.redis = redis
        self.lease_s = lease_s
        self._push = redis.register_script(_PUSH)
        self._claim = redis.register_script(_CLAIM)
        self._requeue = redis.register_script(_REQUEUE)

    async def push(self, kind: str, fbids: Iterable[int], chunk: int = 5000) -> int:
        """Queue ``fbids`` as ``kind`` unless already queued or in flight; the count added."""
        others = [queue_key(k) for k in _same_fetch(kind) if k != kind]
        keys = [queue_key(kind), *others, INFLIGHT]
        batch = [str(f) for f in fbids]
        added = 0
        for start in range(0, len(batch), chunk):
            added += await self._push(keys=keys, args=[time.time(), *batch[start : start + chunk]])
        return added

    async def claim(self, limits: dict[str, int]) -> Claim | None:
        """Lease up to ``limits[kind]`` keys of the highest-priority non-empty queue."""
        keys = [queue_key(k) for k in KINDS] + [INFLIGHT]
        now = time.time()
        args = [now, now + self.lease_s, *(limits[k] for k in KINDS)]
        claimed = await self._claim(keys=keys, args=args)
        if not claimed:
            return None
        key, fbids = claimed
        kind = (key.decode() if isinstance(key, bytes) else key).rsplit(":", 1)[1]
        return kind, [int(f) for f in fbids]

    async def ack(self, kind: str, fbids: Iterable[int]) -> None:
        """The batch of ``fbids`` committed: they leave "in flight"."""
        members = [f"{queue_key(kind)}|{f}" for f in fbids]
        if members:
            await self.redis.zrem(INFLIGHT, *members)

    async def renew(self, kind: str, fbids: Iterable[int]) -> None:
        """Extend the lease of a batch still being worked on (keys no longer in flight, e.g.
        reclaimed after a stall, are not put back)."""
        deadline = time.time() + self.lease_s
        members = {f"{queue_key(kind)}|{f}": deadline for f in fbids}
        if members:
            await self.redis.zadd(INFLIGHT, members, xx=True)

    async def release(self, kind: str, fbids: list[int]) -> None:
        """Give a failed batch back: the keys return to the front of their queue."""
        if fbids:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(queue_key(kind), {str(f): 0 for f in fbids})
                pipe.zrem(INFLIGHT, *(f"{queue_key(kind)}|{f}" for f in fbids))
                await pipe.execute()

    async def requeue_expired(self) -> int:
        """Return the keys of expired leases (crashed pumps) to their queues; the count."""
        return await self._requeue(keys=[INFLIGHT], args=[time.time()])

    async def depths(self) -> dict[str, int]:
        """Queue depth per kind, plus ``in_flight``."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind in KINDS:
                pipe.zcard(queue_key(kind))
            pipe.zcard(INFLIGHT)
            counts = await pipe.execute()
        return dict(zip([*KINDS, "in_flight"], counts, strict=True))
