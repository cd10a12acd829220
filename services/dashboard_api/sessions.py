"""Sessions, kept in Redis so every API process shares them.

A session id is a token given to the client (cookie or bearer): the user's id, a dot and
32 random bytes (``42.<random>``), so a request can read its user while it reads its session
(:func:`claimed_user_id`; the id is only believed once the session says the same). Redis
stores the session under an HMAC of the token with the session secret, so a Redis dump holds
no usable token.
Each user's session keys are indexed in a set, so all of them can be revoked at once
(``forklift dashboard sessions revoke USERNAME``). A session records what the user was when
it logged in (active, superuser, clients, a fingerprint of the password hash): a request
whose user no longer matches (see :func:`still_valid`) ends the session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

__all__ = [
    "Session",
    "SessionStore",
    "claimed_user_id",
    "still_valid",
    "revoke_user",
    "SESSION_PREFIX",
    "USER_SESSIONS_PREFIX",
]

SESSION_PREFIX = "forklift:dashboard:session:"
USER_SESSIONS_PREFIX = "forklift:dashboard:user-sessions:"


@dataclass(frozen=True)
class Session:
    """Who is logged in: a superuser, or a client user scoped to ``client_ids``."""

    user_id: int
    username: str
    is_superuser: bool
    client_ids: tuple[int, ...]
    password_fp: str


def claimed_user_id(token: str) -> int | None:
    """The user id a token names before its dot (None: not a token of that form); nothing
    is known about the token until its session is read."""
    prefix, dot, _ = token.partition(".")
    if not dot or not 0 < len(prefix) <= 18 or not (prefix.isascii() and prefix.isdigit()):
        return None
    return int(prefix)


def still_valid(session: Session, user: Any, password_fp: str) -> bool:
    """Whether the user row ``user`` (username, is_active, is_superuser, client_ids) still is
    what ``session`` was granted for; ``password_fp`` is the fingerprint of its hash now."""
    if user is None or not user["is_active"] or user["username"] != session.username:
        return False
    if bool(user["is_superuser"]) != session.is_superuser:
        return False
    clients = () if session.is_superuser else tuple(user["client_ids"] or ())
    return clients == session.client_ids and hmac.compare_digest(password_fp, session.password_fp)


class SessionStore:
    """Create, read and revoke sessions with a time to live."""

    def __init__(self, redis: Redis, secret: bytes, ttl_s: int) -> None:
        self.redis = redis
        self.secret = secret
        self.ttl_s = ttl_s

    def _key(self, token: str) -> str:
        digest = hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()
        return SESSION_PREFIX + digest

    @staticmethod
    def _index(username: str) -> str:
        return USER_SESSIONS_PREFIX + username

    def password_fingerprint(self, encoded_hash: str) -> str:
        """A keyed digest of the stored password hash: changes when the password does."""
        message = b"password-hash\0" + encoded_hash.encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    async def create(self, session: Session) -> str:
        token = f"{session.user_id}.{secrets.token_urlsafe(32)}"
        key = self._key(token)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, json.dumps(asdict(session)), ex=self.ttl_s)
            pipe.sadd(self._index(session.username), key)
            pipe.expire(self._index(session.username), self.ttl_s)
            await pipe.execute()
        return token

    async def get(self, token: str) -> Session | None:
        raw = await self.redis.get(self._key(token))
        if raw is None:
            return None
        data = json.loads(raw)
        try:
            return Session(**{**data, "client_ids": tuple(data["client_ids"])})
        except (KeyError, TypeError):  # a session stored by an older release: log in again
            return None

    async def revoke(self, token: str, username: str | None = None) -> None:
        key = self._key(token)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if username is not None:
                pipe.srem(self._index(username), key)
            await pipe.execute()


async def revoke_user(redis: Redis, username: str) -> int:
    """End every session of ``username``; how many were live."""
    index = USER_SESSIONS_PREFIX + username
    keys = [k.decode() for k in await redis.smembers(index)]
    if not keys:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(*keys)
        pipe.srem(index, *keys)
        deleted, _ = await pipe.execute()
    return int(deleted)
