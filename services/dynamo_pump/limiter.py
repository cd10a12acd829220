"""One read-capacity budget shared by every pump process: a token bucket in Redis (Lua).

Before a request a pump reserves its estimated RCU (:meth:`RcuLimiter.acquire` waits until
the bucket holds it); after the response it settles the difference with the capacity
actually consumed (:meth:`RcuLimiter.settle`), so the bucket may go negative and every pump
waits until the debt is repaid. The bucket holds at most ``burst_s`` seconds of budget, so
no one-second window can exceed the rate by more than that share. On a throttle the shared
rate factor halves (down to ``min_factor``) and then grows back linearly by
``recover_per_s`` per second. Consumption is also counted per second for ``status``.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

__all__ = ["BURST_S", "RcuLimiter", "measured_rcu_per_s"]

BUCKET = "forklift:dynamo:bucket"
USAGE_PREFIX = "forklift:dynamo:rcu:"
BURST_S = 0.2  # the bucket holds this many seconds of budget
# Usage is counted in integer milli-RCU: INCRBYFLOAT inside a script corrupts Redis 6.2's heap
# (the embedded redis-server crashed a little later in activeExpireCycle).
_MILLI = 1000

_STATE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) + tonumber(now_t[2]) / 1e6
local rate, burst, recover = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'factor')
local tokens, ts, factor = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
if not tokens then tokens, ts, factor = 0, now, 1 end
local elapsed = math.max(0, now - ts)
factor = math.min(1, factor + recover * elapsed)
tokens = math.min(rate * factor * burst, tokens + elapsed * rate * factor)
"""

_SAVE = """
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now),
           'factor', tostring(factor))
redis.call('EXPIRE', KEYS[1], 3600)
"""

# ARGV: rate, burst_s, recover_per_s, cost. Returns seconds to wait (0 = granted).
_ACQUIRE = (
    _STATE
    + """
local cost = tonumber(ARGV[4])
local need = math.min(cost, rate * factor * burst)
local wait = 0
if tokens >= need then tokens = tokens - cost else wait = (need - tokens) / (rate * factor) end
"""
    + _SAVE
    + "return tostring(wait)"
)

# ARGV: rate, burst_s, recover_per_s, estimate, actual.
_SETTLE = (
    _STATE
    + """
tokens = math.min(rate * factor * burst, tokens + tonumber(ARGV[4]) - tonumber(ARGV[5]))
local usage = KEYS[2] .. math.floor(now)
redis.call('INCRBY', usage, string.format('%d', math.floor(tonumber(ARGV[5]) * MILLI + 0.5)))
redis.call('EXPIRE', usage, 300)
"""
    + _SAVE
    + "return tostring(factor)"
).replace("MILLI", str(_MILLI))

# ARGV: rate, burst_s, recover_per_s, min_factor. Returns the new factor.
_THROTTLED = (
    _STATE
    + """
factor = math.max(tonumber(ARGV[4]), factor / 2)
tokens = math.min(tokens, 0)
"""
    + _SAVE
    + "return tostring(factor)"
)


class RcuLimiter:
    """The shared RCU budget (``rcu_per_s``) on one Redis connection."""

    def __init__(
        self,
        redis: Redis,
        rcu_per_s: float,
        *,
        burst_s: float = BURST_S,
        recover_per_s: float = 0.05,
        min_factor: float = 0.05,
    ) -> None:
        self.redis = redis
        self.args = [rcu_per_s, burst_s, recover_per_s]
        self.min_factor = min_factor
        self._acquire = redis.register_script(_ACQUIRE)
        self._settle = redis.register_script(_SETTLE)
        self._throttled = redis.register_script(_THROTTLED)

    async def acquire(self, estimate_rcu: float) -> None:
        """Wait until the shared bucket grants ``estimate_rcu``."""
        while True:
            wait_s = float(await self._acquire(keys=[BUCKET], args=[*self.args, estimate_rcu]))
            if wait_s <= 0:
                return
            await asyncio.sleep(min(wait_s, 1.0))

    async def settle(self, estimate_rcu: float, consumed_rcu: float) -> None:
        """Charge what the request really consumed instead of its estimate."""
        await self._settle(
            keys=[BUCKET, USAGE_PREFIX], args=[*self.args, estimate_rcu, consumed_rcu]
        )

    async def throttled(self) -> float:
        """DynamoDB throttled us: halve the shared rate; returns the new rate factor."""
        return float(await self._throttled(keys=[BUCKET], args=[*self.args, self.min_factor]))


async def measured_rcu_per_s(redis: Redis, window_s: int = 10) -> float:
    """Mean RCU/s consumed by all pumps over the last ``window_s`` whole seconds."""
    now_s = int((await redis.time())[0])  # the clock the scripts count with
    keys = [f"{USAGE_PREFIX}{s}" for s in range(now_s - window_s, now_s)]
    values = await redis.mget(keys)
    return sum(int(v) for v in values if v is not None) / _MILLI / window_s
