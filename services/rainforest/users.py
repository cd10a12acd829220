"""User records in Redis: one hash per cloud id (leading zeros kept), an index set, the gateway
secret Fernet-encrypted at rest, counters and the latest readings.

Keys: ``rainforest:user:<cloud_id>`` (hash), ``rainforest:users`` (set of cloud ids, read with
SSCAN), ``rainforest:recent:<cloud_id>`` (list of the 20 latest readings, newest first),
``rainforest:version`` (bumped on every user change so pollers reload) and, for readings
fetched by the API (``GET /api/event``) rather than by the user's poller,
``rainforest:inbox:<shard>`` (lines waiting for the shard's lease holder to write them) and
``rainforest:inbox:dirty`` (the shards with waiting lines).

Readings are counted by server-side scripts that also deduplicate them (a reading whose
``cloud_id|meter_mac|eagle_time`` equals the user's ``last_key`` is not logged again) and,
for pollers, check the shard lease: only the lease holder's readings count, and only counted
readings are written to the log files.
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
from services.rainforest.membership import lease_key
from services.rainforest.models import validate_cloud_id, validate_user
from services.rainforest.readings import dedupe_key
from shared.networks import IPNetwork

__all__ = ["UserStore", "PUBLIC_FIELDS", "RECENT_READINGS"]

INDEX_KEY = "rainforest:users"
VERSION_KEY = "rainforest:version"
RECENT_READINGS = 20
INBOX_DIRTY_KEY = "rainforest:inbox:dirty"
INBOX_CAP = 10_000
# Shared by the record scripts: count one reading of an existing user unless it repeats the
# last one ('A' counted, 'S' same as the last, 'D' no such user: a reading racing a DELETE
# must not resurrect the record). ``polled`` (when not '') is the poll's Unix time.
COUNT_LUA = """
local function last_key(user, recent)
  local key = redis.call('HGET', user, 'last_key')
  if key then return key end
  local latest = redis.call('LINDEX', recent, 0)
  if not latest then return false end
  local ok, r = pcall(cjson.decode, latest)
  if not ok or type(r) ~= 'table' then return false end
  return tostring(r.cloud_id) .. '|' .. tostring(r.meter_mac) .. '|' .. tostring(r.eagle_time)
end
local function count(user, recent, key, eagle, polled, line, keep)
  if redis.call('EXISTS', user) == 0 then return 'D' end
  local same = last_key(user, recent) == key
  if not same then
    redis.call('HINCRBY', user, 'total_events_logged', 1)
    redis.call('HSETNX', user, 'first_timestamp', eagle)
    redis.call('HSET', user, 'last_timestamp', eagle, 'last_key', key)
    redis.call('LPUSH', recent, line)
    redis.call('LTRIM', recent, 0, keep)
  end
  if polled ~= '' then
    redis.call('HSET', user, 'status', 'ok', 'status_detail', '', 'polled_at', polled)
  else
    redis.call('HSET', user, 'status', 'ok', 'status_detail', '')
  end
  if same then return 'S' end
  return 'A'
end
"""
# A poller's batch, as strings (one argument per list rather than several per reading:
# packing arguments is most of the client's cost). ARGV: keep, user key prefix, recent key
# prefix, lease key prefix, "shard token" lines (the caller's leases), then one line per
# reading: "shard<TAB>dedupe key<TAB>eagle_time<TAB>polled_at<TAB>JSON line". Keys are named
# from the prefixes (the cloud id is the dedupe key's first part), so this needs a single
# Redis server (not Cluster). Returns one letter per reading: A, S, D or 'F' (fenced: the
# caller's lease on that shard is gone, the reading is dropped).
RECORD_BATCH_LUA = (
    COUNT_LUA
    + """
local keep, user_prefix, recent_prefix, lease_prefix =
  tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local tokens, held = {}, {}
for shard, token in string.gmatch(ARGV[5], '(%d+) ([^\\n]+)') do tokens[shard] = token end
local out, n = {}, 0
for record in string.gmatch(ARGV[6], '[^\\n]+') do
  local shard, key, eagle, polled, line =
    string.match(record, '^(%d+)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$')
  if held[shard] == nil then
    held[shard] = tokens[shard] ~= nil and redis.call('GET', lease_prefix .. shard) == tokens[shard]
  end
  n = n + 1
  if held[shard] then
    local cloud_id = string.match(key, '^[^|]*')
    out[n] = count(user_prefix .. cloud_id, recent_prefix .. cloud_id, key, eagle, polled,
                   line, keep)
  else
    out[n] = 'F'
  end
end
return table.concat(out)
"""
)
# A reading fetched outside the owner (the API): counted, then queued for the shard's holder.
# KEYS: user, recent, inbox, dirty set. ARGV: dedupe key, eagle_time, line, keep, shard, cap.
RECORD_REMOTE_LUA = (
    COUNT_LUA
    + """
local result = count(KEYS[1], KEYS[2], ARGV[1], ARGV[2], '', ARGV[3], tonumber(ARGV[4]))
if result == 'A' then
  redis.call('RPUSH', KEYS[3], ARGV[3])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[6]), -1)
  redis.call('SADD', KEYS[4], ARGV[5])
end
return result
"""
)
# The lease holder takes a shard's waiting lines. KEYS: lease, inbox, dirty. ARGV: token, shard.
DRAIN_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local lines = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return lines
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


def inbox_key(shard: int) -> str:
    return f"rainforest:inbox:{shard}"


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
        self._record_batch = redis.register_script(RECORD_BATCH_LUA)
        self._record_remote = redis.register_script(RECORD_REMOTE_LUA)
        self._drain = redis.register_script(DRAIN_LUA)

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

    async def set_status(
        self, cloud_id: str, status: str, detail: str = "", polled_at: float | None = None
    ) -> None:
        """Record the poll status (only for existing users: a deleted user stays deleted)."""
        mapping: dict[str, str | float] = {"status": status, "status_detail": detail[:300]}
        if polled_at is not None:
            mapping["polled_at"] = polled_at
        if await self.redis.exists(user_key(cloud_id)):
            await self.redis.hset(user_key(cloud_id), mapping=mapping)

    async def record_batch(
        self, tokens: dict[int, str], readings: list[tuple[int, dict[str, Any], str, float]]
    ) -> str:
        """Count a poller's readings ``(shard, reading, line, polled_at)`` in one script call,
        fenced by the caller's lease ``tokens`` (shard -> token); one letter per reading
        (see RECORD_BATCH_LUA)."""
        if not readings:
            return ""
        shards = {shard for shard, _, _, _ in readings}
        payload = "\n".join(
            f"{shard}\t{dedupe_key(reading)}\t{reading['eagle_time']}\t{polled_at}\t{line}"
            for shard, reading, line, polled_at in readings
        )
        held = "\n".join(f"{shard} {tokens[shard]}" for shard in shards if shard in tokens)
        args = [RECENT_READINGS - 1, user_key(""), recent_key(""), lease_key(""), held, payload]
        return _text(await self._record_batch(keys=[], args=args))

    async def record_remote(self, reading: dict[str, Any], line: str, shard: int) -> bool:
        """Count a reading fetched outside its poller and queue its line for the holder of
        ``shard``; False when it repeats the user's last reading."""
        cloud_id = reading["cloud_id"]
        result = await self._record_remote(
            keys=[user_key(cloud_id), recent_key(cloud_id), inbox_key(shard), INBOX_DIRTY_KEY],
            args=[dedupe_key(reading), reading["eagle_time"], line, RECENT_READINGS - 1, shard,
                  INBOX_CAP],
        )  # fmt: skip
        if _text(result) == "D":
            raise UserNotFound(f"no user {cloud_id}")
        return _text(result) == "A"

    async def waiting_shards(self) -> set[int]:
        """Shards with lines from the API waiting for their lease holder."""
        return {int(s) for s in await self.redis.smembers(INBOX_DIRTY_KEY)}

    async def drain(self, shard: int, token: str) -> list[str]:
        """Take ``shard``'s waiting lines (none unless ``token`` is its current lease)."""
        lines = await self._drain(
            keys=[lease_key(shard), inbox_key(shard), INBOX_DIRTY_KEY], args=[token, shard]
        )
        return [_text(line) for line in lines or []]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
