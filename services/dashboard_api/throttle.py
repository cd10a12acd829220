"""The login throttle, in Redis so every API process shares it.

Every attempt is counted *before* the password hash is checked, in one Lua script, so a burst
of parallel attempts cannot all slip past the check. Two counters:

- per (username, client address): the first ``max_failures`` attempts are free, then each one
  waits: ``delay_s`` after the ``max_failures``-th, doubling per further failure up to
  ``delay_cap_s``. Counters expire ``window_s`` after the last delay ends. A user locked out
  from one address can still log in from any other address that has not failed.
- per client address (a ceiling over every username): at ``address_max_failures`` attempts
  within ``window_s`` that address is refused until the window ends.

A successful login clears its (username, address) counter and takes its own attempt back off
the address's count, so successes never use up an address's ceiling.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.networks import IPNetwork

__all__ = ["Throttle", "ThrottleLimits", "Refused", "THROTTLE_PREFIX", "client_address"]

THROTTLE_PREFIX = "forklift:dashboard:login-failures:"

# KEYS: pair hash {failures, until}, address counter. ARGV: max_failures, window_ms, delay_ms,
# delay_cap_ms, address_max. Returns {1, 0} (go ahead, counted) or {0, retry_after_ms}.
_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max_failures, window_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local delay_ms, cap_ms, address_max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local locked_until = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if locked_until > now then return {0, locked_until - now} end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= address_max then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl < 1 then ttl = window_ms end
  return {0, ttl}
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local wait = 0
if failures >= max_failures then
  wait = math.min(cap_ms, delay_ms * 2 ^ (failures - max_failures))
  redis.call('HSET', KEYS[1], 'until', string.format('%.0f', now + wait))
end
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', window_ms + wait))
if redis.call('INCR', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], window_ms) end
return {1, 0}
"""

# KEYS: pair hash, address counter. The pair is forgiven; the address gets its attempt back.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
"""


@dataclass(frozen=True)
class ThrottleLimits:
    max_failures: int
    window_s: float
    delay_s: float
    delay_cap_s: float
    address_max_failures: int


@dataclass(frozen=True)
class Refused:
    """An attempt the throttle refused: retry after ``retry_after_s`` seconds."""

    retry_after_s: float


class Throttle:
    """``attempt()`` before checking a password, ``succeeded()`` after a good one."""

    def __init__(self, redis: Redis, limits: ThrottleLimits) -> None:
        self.redis = redis
        self.limits = limits
        self._attempt = redis.register_script(_ATTEMPT)
        self._succeeded = redis.register_script(_SUCCEEDED)

    @staticmethod
    def keys(username: str, address: str) -> list[str]:
        """The (username, address) and address keys; names are hashed (no usernames in Redis,
        bounded key length) and case-folded (``ACME`` counts as ``acme``)."""
        pair = hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()
        return [f"{THROTTLE_PREFIX}pair:{pair}", f"{THROTTLE_PREFIX}addr:{address}"]

    async def attempt(self, username: str, address: str) -> Refused | None:
        """Count one attempt; a :class:`Refused` (nothing counted) when it must wait."""
        limits = self.limits
        allowed, retry_ms = await self._attempt(
            keys=self.keys(username, address),
            args=[
                limits.max_failures,
                int(limits.window_s * 1000),
                int(limits.delay_s * 1000),
                int(limits.delay_cap_s * 1000),
                limits.address_max_failures,
            ],
        )
        return None if allowed else Refused(int(retry_ms) / 1000)

    async def succeeded(self, username: str, address: str) -> None:
        await self._succeeded(keys=self.keys(username, address))


def client_address(
    remote: str | None, forwarded_for: str, trusted: tuple[IPNetwork, ...] = ()
) -> str:
    """The address a login is counted under: the peer, or, when the peer is one of the
    ``trusted`` proxies, the nearest address in ``X-Forwarded-For`` that is not."""
    address = remote or "unknown"
    if not trusted:
        return address
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    while _is_trusted(address, trusted) and hops:
        address = hops.pop()
    return address


def _is_trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
