"""Sessions and the login throttle, kept in Redis so every API process shares them.

A session id is a random token given to the client (cookie or bearer); Redis stores the
session under an HMAC of it with the session secret, so a Redis dump holds no usable token.
Logout deletes the key (revocation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

__all__ = ["Session", "SessionStore", "Throttle"]

SESSION_PREFIX = "forklift:dashboard:session:"
THROTTLE_PREFIX = "forklift:dashboard:login-failures:"

# Count one failure per key; the first failure of a window starts its expiry. One script so
# no counter is ever left without a TTL (Redis 6.2 has no EXPIRE ... NX).
_FAIL = """
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
"""


@dataclass(frozen=True)
class Session:
    """Who is logged in: a superuser, or a client user scoped to ``client_ids``."""

    user_id: int
    username: str
    is_superuser: bool
    client_ids: tuple[int, ...]


class SessionStore:
    """Create, read and revoke sessions with a time to live."""

    def __init__(self, redis: Redis, secret: bytes, ttl_s: int) -> None:
        self.redis = redis
        self.secret = secret
        self.ttl_s = ttl_s

    def _key(self, token: str) -> str:
        digest = hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()
        return SESSION_PREFIX + digest

    async def create(self, session: Session) -> str:
        token = secrets.token_urlsafe(32)
        await self.redis.set(self._key(token), json.dumps(asdict(session)), ex=self.ttl_s)
        return token

    async def get(self, token: str) -> Session | None:
        raw = await self.redis.get(self._key(token))
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(**{**data, "client_ids": tuple(data["client_ids"])})

    async def revoke(self, token: str) -> None:
        await self.redis.delete(self._key(token))


class Throttle:
    """Counts failed logins per key (``user:<name>``, ``ip:<addr>``) over a fixed window."""

    def __init__(self, redis: Redis, max_failures: int, window_s: int) -> None:
        self.redis = redis
        self.max_failures = max_failures
        self.window_s = window_s
        self._fail = redis.register_script(_FAIL)

    async def blocked(self, *keys: str) -> bool:
        values = await self.redis.mget([THROTTLE_PREFIX + k for k in keys])
        return any(v is not None and int(v) >= self.max_failures for v in values)

    async def fail(self, *keys: str) -> None:
        await self._fail(keys=[THROTTLE_PREFIX + k for k in keys], args=[self.window_s])

    async def clear(self, key: str) -> None:
        await self.redis.delete(THROTTLE_PREFIX + key)
