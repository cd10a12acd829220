"""Poller membership and fenced shard leases in Redis: one server-side script call per beat.

Keys:

- ``rainforest:pollers``: sorted set of live poller ids, scored by when their membership
  expires (Redis server time, so hosts' clocks do not matter);
- ``rainforest:poller:<id>``: that poller's figures for ``forklift rainforest status``
  (host, pid, shards, users, lateness...), expiring with the membership;
- ``rainforest:lease:<shard>``: ``"<poller id>|<fence>"``, the lease on one shard of users,
  set only if absent and expiring unless renewed; ``<fence>`` comes from the
  ``rainforest:fences`` hash and grows with every acquisition, so a writer holding an older
  lease is refused (see ``users.RECORD_BATCH_LUA``);
- ``rainforest:shards``: the shard count, fixed by the first poller: a poller configured with
  another count refuses to start (two counts would map one user to two shards).

A beat renews the caller's leases (only where it still holds them), releases those it hands
over, tries the shards it should take, refreshes its membership and returns the live members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.rainforest.errors import PollerConfigError

__all__ = [
    "Membership",
    "BeatResult",
    "Lease",
    "MEMBERS_KEY",
    "SHARDS_KEY",
    "lease_key",
    "info_key",
    "read_leases",
    "read_members",
]

MEMBERS_KEY = "rainforest:pollers"
FENCES_KEY = "rainforest:fences"
SHARDS_KEY = "rainforest:shards"


def lease_key(shard: int) -> str:
    return f"rainforest:lease:{shard}"


def info_key(member: str) -> str:
    return f"rainforest:poller:{member}"


# KEYS: members, fences, shard count, info. ARGV: member, ttl_ms (0 = leave), shard count,
# lease key prefix, then three lists as one string each (one argument rather than two per
# lease: a poller holds hundreds): "shard token" lines to renew, "shard token" lines to
# release, "shard" lines to acquire; then info field/value pairs. The lease keys are named
# from the prefix, so this needs a single Redis server (not Cluster).
# A release notes the released fence (``released:<shard>`` in the fences hash), so the next
# holder learns whether its predecessor handed the shard over (drained and flushed: the users'
# ``polled_at`` are exact) or let the lease expire (a crash: its last polls may be unrecorded).
# Returns {server ms, live members with their expiry ms, '1'/'0' per renewal, token or '' per
# acquisition, '1'/'0' per acquisition: handed over}.
BEAT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, ttl, shards, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local stored = redis.call('GET', KEYS[3])
if not stored then
  redis.call('SET', KEYS[3], shards)
elseif stored ~= shards then
  return redis.error_reply('SHARDS ' .. stored)
end
local renewed = {}
for shard, token in string.gmatch(ARGV[5], '(%d+) ([^\\n]+)') do
  local key = prefix .. shard
  if ttl > 0 and redis.call('GET', key) == token then
    redis.call('PEXPIRE', key, ttl)
    renewed[#renewed + 1] = '1'
  else
    renewed[#renewed + 1] = '0'
  end
end
for shard, token in string.gmatch(ARGV[6], '(%d+) ([^\\n]+)') do
  local key = prefix .. shard
  if redis.call('GET', key) == token then
    redis.call('DEL', key)
    redis.call('HSET', KEYS[2], 'released:' .. shard, string.match(token, '|(%d+)$'))
  end
end
local acquired, handed = {}, {}
for shard in string.gmatch(ARGV[7], '%d+') do
  local key = prefix .. shard
  acquired[#acquired + 1] = ''
  handed[#handed + 1] = '0'
  if ttl > 0 and redis.call('EXISTS', key) == 0 then
    local released = redis.call('HGET', KEYS[2], 'released:' .. shard)
    if released == redis.call('HGET', KEYS[2], shard) then handed[#handed] = '1' end
    local token = member .. '|' .. redis.call('HINCRBY', KEYS[2], shard, 1)
    redis.call('SET', key, token, 'PX', ttl)
    acquired[#acquired] = token
  end
end
if ttl > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, member)
  if #ARGV > 7 then
    redis.call('HSET', KEYS[4], unpack(ARGV, 8))
  end
  redis.call('PEXPIRE', KEYS[4], ttl)
else
  redis.call('ZREM', KEYS[1], member)
  redis.call('DEL', KEYS[4])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {tostring(now), redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), table.concat(renewed),
        acquired, table.concat(handed)}
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Lease:
    """A shard lease as its holder sees it: the fencing token, and the event-loop time until
    which the holder may act on it (before Redis can expire it: renewal sent + ttl - margin).
    ``draining``: being handed over (no new polls)."""

    token: str
    valid_until: float
    draining: bool = False

    def valid(self, now: float) -> bool:
        return now < self.valid_until


@dataclass
class BeatResult:
    """What one beat found: the server clock, the live members (and when each expires, server
    ms), the leases kept and won, and which of those won were handed over (released by their
    last holder, not expired)."""

    server_ms: int
    members: list[str]
    expiries: dict[str, int] = field(default_factory=dict)
    renewed: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    acquired: dict[int, str] = field(default_factory=dict)
    handed_over: set[int] = field(default_factory=set)


class Membership:
    """One poller's membership and its shard leases (``ttl_s`` for both)."""

    def __init__(self, redis: Redis, member: str, shards: int, ttl_s: float) -> None:
        self.redis = redis
        self.member = member
        self.shards = shards
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._script = redis.register_script(BEAT_LUA)
        # the last renewal's leases, their order and their text: a poller renews the same
        # ~1,000 leases every beat, and formatting them was a fifth of a beat's CPU
        self._renewal: tuple[dict[int, str], list[tuple[int, str]], str] = ({}, [], "")

    async def beat(
        self,
        renew: dict[int, str],
        release: dict[int, str] | None = None,
        acquire: list[int] | None = None,
        info: dict[str, Any] | None = None,
        *,
        leave: bool = False,
    ) -> BeatResult:
        """Renew ``renew`` (shard -> token), release ``release``, try ``acquire``, publish
        ``info``; with ``leave`` drop the membership and renew/acquire nothing."""
        release = release or {}
        acquire = [] if leave else list(acquire or [])
        if renew != self._renewal[0]:
            items = list(renew.items())
            self._renewal = (dict(renew), items, "\n".join(f"{s} {t}" for s, t in items))
        _, renewing, renewal = self._renewal
        args: list[Any] = [
            self.member,
            0 if leave else self.ttl_ms,
            self.shards,
            lease_key(""),
            renewal,
            "\n".join(f"{shard} {token}" for shard, token in release.items()),
            "\n".join(str(shard) for shard in acquire),
        ]
        for name, value in (info or {}).items():
            args += [name, value]
        keys = [MEMBERS_KEY, FENCES_KEY, SHARDS_KEY, info_key(self.member)]
        try:
            server_ms, scored, renewed, acquired, handed = await self._script(keys=keys, args=args)
        except ResponseError as e:
            if str(e).startswith("SHARDS "):
                raise PollerConfigError(
                    f"FORKLIFT_RAINFOREST_SHARDS is {self.shards} but the running pollers use "
                    f"{str(e).split()[1]} (rainforest:shards); all pollers need the same count"
                ) from None
            raise
        expiries = {_text(m): int(float(e)) for m, e in zip(scored[::2], scored[1::2], strict=True)}
        result = BeatResult(int(server_ms), sorted(expiries), expiries)
        for (shard, _), flag in zip(renewing, _text(renewed), strict=True):
            (result.renewed if flag == "1" else result.lost).add(shard)
        for shard, token, flag in zip(acquire, acquired, _text(handed), strict=True):
            if token:
                result.acquired[shard] = _text(token)
                if flag == "1":
                    result.handed_over.add(shard)
        return result


async def read_members(redis: Redis) -> list[dict[str, str]]:
    """The live pollers' published figures (``id`` added), in id order."""
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    ids = sorted(_text(m) for m in await redis.zrangebyscore(MEMBERS_KEY, f"({now_ms}", "+inf"))
    async with redis.pipeline(transaction=False) as pipe:
        for member in ids:
            pipe.hgetall(info_key(member))
        rows = await pipe.execute()
    return [
        {"id": member, **{_text(k): _text(v) for k, v in row.items()}}
        for member, row in zip(ids, rows, strict=True)
    ]


async def read_leases(redis: Redis, shards: int) -> dict[int, str]:
    """shard -> holding poller id, for the shards that have a holder."""
    values = await redis.mget([lease_key(s) for s in range(shards)])
    return {s: _text(v).rsplit("|", 1)[0] for s, v in enumerate(values) if v is not None}
