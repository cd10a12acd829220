"""User records in Redis: one hash per cloud id (leading zeros kept), an index set, the gateway
secret Fernet-encrypted at rest, counters and the latest readings.

Keys: ``rainforest:user:<cloud_id>`` (hash), ``rainforest:users`` (set of cloud ids, read with
SSCAN), ``rainforest:recent:<cloud_id>`` (list of the 20 latest readings, newest first) and
``rainforest:version`` (bumped on every user change so pollers reload).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from redis.asyncio import Redis

from services.rainforest.adapters import Gateway
from services.rainforest.errors import RainforestError, UserNotFound
from services.rainforest.hosts import check_literal
from services.rainforest.models import validate_cloud_id, validate_user
from shared.networks import IPNetwork

__all__ = ["UserStore", "PUBLIC_FIELDS", "RECENT_READINGS"]

INDEX_KEY = "rainforest:users"
VERSION_KEY = "rainforest:version"
RECENT_READINGS = 20
# Only for an existing user (a reading racing a DELETE must not resurrect the record).
RECORD_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'total_events_logged', 1)
redis.call('HSETNX', KEYS[1], 'first_timestamp', ARGV[1])
redis.call('HSET', KEYS[1], 'last_timestamp', ARGV[1], 'status', 'ok', 'status_detail', '')
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]))
return 1
"""
PUBLIC_FIELDS = (
    "cloud_id",
    "user_email",
    "adapter",
    "host",
    "active",
    "status",
    "status_detail",
    "total_events_logged",
    "first_timestamp",
    "last_timestamp",
)


def user_key(cloud_id: str) -> str:
    return f"rainforest:user:{cloud_id}"


def recent_key(cloud_id: str) -> str:
    return f"rainforest:recent:{cloud_id}"


def _view(raw: dict[str, str], last_reading: dict[str, Any] | None) -> dict[str, Any]:
    view: dict[str, Any] = {name: raw.get(name) or None for name in PUBLIC_FIELDS}
    view["active"] = raw.get("active") == "1"
    view["total_events_logged"] = int(raw.get("total_events_logged", 0))
    view["last_reading"] = last_reading
    return view


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class UserStore:
    """Reads and writes user records; the only code that sees the decrypted secret."""

    def __init__(self, redis: Redis, fernet: Fernet) -> None:
        self.redis = redis
        self.fernet = fernet
        self._record_script = redis.register_script(RECORD_LUA)

    async def raw(self, cloud_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(user_key(cloud_id))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def raw_many(self, cloud_ids: list[str]) -> list[dict[str, str]]:
        """The stored hashes of ``cloud_ids`` in one pipeline ({} for a missing user)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for cloud_id in cloud_ids:
                pipe.hgetall(user_key(cloud_id))
            rows = await pipe.execute()
        return [{k.decode(): v.decode() for k, v in row.items()} for row in rows]

    async def upsert(
        self, cloud_id: str, body: Any, networks: tuple[IPNetwork, ...] | None = None
    ) -> dict[str, Any]:
        """Create or update; counters and timestamps are preserved, status reset to pending.
        With ``networks``, a host that is an IP address outside them is HostNotAllowed."""
        existing = await self.raw(validate_cloud_id(cloud_id)) or None
        fields = validate_user(cloud_id, body, existing)
        if networks is not None and fields.get("host"):
            check_literal(fields["host"], networks)
        secret = fields.pop("user_pw", None)
        if secret is not None:
            fields["secret"] = self.fernet.encrypt(secret.encode()).decode()
        fields.update(status="pending", status_detail="", updated_at=_now_iso())
        if existing is None:
            fields.update(
                cloud_id=cloud_id, total_events_logged="0", active=fields.get("active", "1")
            )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(user_key(cloud_id), mapping=fields)
            pipe.sadd(INDEX_KEY, cloud_id)
            pipe.incr(VERSION_KEY)
            await pipe.execute()
        return await self.public(cloud_id)

    async def delete(self, cloud_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(user_key(cloud_id), recent_key(cloud_id))
            pipe.srem(INDEX_KEY, cloud_id)
            pipe.incr(VERSION_KEY)
            deleted, *_ = await pipe.execute()
        if not deleted:
            raise UserNotFound(f"no user {cloud_id}")

    async def public(self, cloud_id: str) -> dict[str, Any]:
        """The API view of a user: never the secret."""
        raw = await self.raw(cloud_id)
        if not raw:
            raise UserNotFound(f"no user {cloud_id}")
        recent = [json.loads(r) for r in await self.redis.lrange(recent_key(cloud_id), 0, -1)]
        view = _view(raw, recent[0] if recent else None)
        view["recent_readings"] = recent
        return view

    async def summaries(self) -> list[dict[str, Any]]:
        """Every user's view without ``recent_readings``, in two pipelined round trips."""
        cloud_ids = await self.cloud_ids()
        raws = await self.raw_many(cloud_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for cloud_id in cloud_ids:
                pipe.lindex(recent_key(cloud_id), 0)
            lasts = await pipe.execute()
        return [
            _view(raw, json.loads(last) if last else None)
            for raw, last in zip(raws, lasts, strict=True)
            if raw  # deleted between the SSCAN and the read
        ]

    async def cloud_ids(self) -> list[str]:
        """Every registered cloud id (SSCAN, never KEYS), sorted."""
        return sorted([c.decode() async for c in self.redis.sscan_iter(INDEX_KEY, count=1000)])

    async def version(self) -> int:
        return int(await self.redis.get(VERSION_KEY) or 0)

    def secret(self, raw: dict[str, str]) -> str:
        try:
            return self.fernet.decrypt(raw["secret"].encode()).decode()
        except (KeyError, InvalidToken):
            raise RainforestError(
                f"user {raw.get('cloud_id')}: secret unreadable (wrong FORKLIFT_RAINFOREST_ENCRYPTION_KEY?)"
            ) from None

    def gateway(self, raw: dict[str, str]) -> Gateway:
        """How to reach the user of the stored hash ``raw`` (decrypts the secret)."""
        return Gateway(
            raw["cloud_id"],
            raw["adapter"],
            raw["user_email"],
            self.secret(raw),
            raw.get("host", ""),
        )

    async def set_status(self, cloud_id: str, status: str, detail: str = "") -> None:
        """Record the poll status (only for existing users: a deleted user stays deleted)."""
        if await self.redis.exists(user_key(cloud_id)):
            await self.redis.hset(
                user_key(cloud_id), mapping={"status": status, "status_detail": detail[:300]}
            )

    async def record_many(self, readings: list[dict[str, Any]]) -> None:
        """Count logged readings (counters, first/last timestamps, the recent list): one
        server-side script call per reading, all in one pipeline round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for reading in readings:
                cloud_id = reading["cloud_id"]
                await self._record_script(
                    keys=[user_key(cloud_id), recent_key(cloud_id)],
                    args=[reading["eagle_time"], json.dumps(reading), RECENT_READINGS - 1],
                    client=pipe,
                )
            await pipe.execute()

    async def last_reading(self, cloud_id: str) -> dict[str, Any] | None:
        raw = await self.redis.lindex(recent_key(cloud_id), 0)
        return json.loads(raw) if raw else None
