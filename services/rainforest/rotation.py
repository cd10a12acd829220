"""Hourly rotation: every closed hour's JSONL file (of any user, polled or not) is gzip'd,
uploaded to S3, verified by MD5 against the object's ETag, and only then deleted locally.

- Lines that are not a JSON object (a torn last line left by a crash or an edit) are skipped
  and counted; the readings around them are kept.
- One object per user and hour: if the key already holds an object (the part of a user's
  hour written on another machine's log folder, or late lines for an hour already uploaded),
  the upload is the union of both, sorted by ``received_at``; when the object already holds
  every line of the file (a re-run after a crash), nothing is uploaded and the file is
  deleted. An object that is not gzip'd text is never overwritten: the file goes to
  ``<key>.1``, ``<key>.2``...
- The first S3 error ends the run (S3 is down or refusing: trying every other file would only
  take longer); the files stay on disk for the next run. A local error (an unreadable file, an
  ETag mismatch) fails that file only.
- Runs never overlap: ``rotation_lock`` (Redis) is held for the whole run, by the worker's
  cron job and ``forklift rainforest rotate`` alike.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from redis.asyncio import Redis

from services.rainforest.errors import RotationBusy, S3Unavailable
from services.rainforest.readings import s3_key
from shared.logging import get_logger

__all__ = [
    "RotationResult",
    "closed_hour_files",
    "rotate",
    "ensure_bucket",
    "rotation_lock",
    "read_readings",
]

log = get_logger("forklift.rainforest.rotation")

FILE_RE = re.compile(
    r"^iseif-rainforest-(?P<cloud_id>[0-9A-Za-z]+)-(?P<hour>\d{4}-\d\d-\d\d-\d\d)\.jl$"
)
MAX_SUFFIX = 100
LOCK_KEY = "rainforest:rotate:lock"
LOCK_TTL_S = 60.0
RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class RotationResult:
    """``uploaded`` keys, ``failed`` files (local errors), files ``kept`` untried because S3
    stopped the run (``error`` says why), torn lines skipped."""

    uploaded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    kept: int = 0
    torn_lines: int = 0
    error: str | None = None

    def counts(self) -> dict[str, int]:
        return {
            "uploaded": len(self.uploaded),
            "failed": len(self.failed),
            "kept": self.kept,
            "torn_lines": self.torn_lines,
        }


def closed_hour_files(
    root: Path, now: datetime, grace_s: float
) -> list[tuple[Path, str, datetime]]:
    """(path, cloud_id, hour_start) of log files whose hour ended at least ``grace_s`` ago."""
    found = []
    if not root.is_dir():
        return found
    for path in sorted(root.glob("*/iseif-rainforest-*.jl")):
        match = FILE_RE.match(path.name)
        if match is None or path.parent.name != match["hour"]:
            continue
        hour_start = datetime.strptime(match["hour"], "%Y-%m-%d-%H").replace(tzinfo=UTC)
        if hour_start + timedelta(hours=1, seconds=grace_s) <= now:
            found.append((path, match["cloud_id"], hour_start))
    return found


def _received_at(line: str) -> str | None:
    """The ``received_at`` of a JSON-object line, "" if it has none, None if it is no object."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return str(value.get("received_at", "")) if isinstance(value, dict) else None


def read_readings(data: bytes) -> tuple[list[str], int]:
    """The JSON-object lines of a JSONL file's bytes, and how many other (torn) lines."""
    lines, torn = [], 0
    for raw in data.decode("utf-8", "replace").split("\n"):
        if raw.strip():
            if _received_at(raw) is None:
                torn += 1
            else:
                lines.append(raw)
    return lines, torn


def _merged(existing: list[str], ours: list[str]) -> list[str]:
    """Both sets of lines once each, in ``received_at`` order."""
    union = set(existing) | set(ours)
    return sorted(union, key=lambda line: (_received_at(line) or "", line))


def _gzip(lines: list[str]) -> bytes:
    # mtime=0: the same lines give the same bytes and the same MD5
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def _s3_error(e: Exception) -> S3Unavailable:
    text = str(e).splitlines()[0] if str(e) else ""
    return S3Unavailable(f"S3 unavailable: {type(e).__name__}: {text[:300]}")


async def _head_etag(s3: Any, bucket: str, key: str) -> str | None:
    try:
        head = await s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise _s3_error(e) from None
    except BotoCoreError as e:
        raise _s3_error(e) from None
    return head["ETag"].strip('"')


async def _existing_lines(s3: Any, bucket: str, key: str) -> list[str] | None:
    """The lines of the object at ``key``; None when there is none; ValueError when it is
    not gzip'd text."""
    if await _head_etag(s3, bucket, key) is None:
        return None
    try:
        response = await s3.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as stream:
            body = await stream.read()
    except (ClientError, BotoCoreError) as e:
        raise _s3_error(e) from None
    try:
        text = gzip.decompress(body).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ValueError(f"s3://{bucket}/{key} is not gzip'd text: {e}") from None
    return [line for line in text.split("\n") if line.strip()]


async def _put_verified(s3: Any, bucket: str, key: str, body: bytes) -> None:
    md5 = hashlib.md5(body, usedforsecurity=False)
    try:
        await s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentMD5=base64.b64encode(md5.digest()).decode()
        )
    except (ClientError, BotoCoreError) as e:
        raise _s3_error(e) from None
    if await _head_etag(s3, bucket, key) != md5.hexdigest():
        raise OSError(f"s3://{bucket}/{key}: ETag does not match the uploaded MD5")


async def _put_beside(s3: Any, bucket: str, key: str, body: bytes) -> str:
    """Upload at the first free ``<key>.N`` (or one already holding these bytes)."""
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    for suffix in range(1, MAX_SUFFIX):
        target = f"{key}.{suffix}"
        existing = await _head_etag(s3, bucket, target)
        if existing == md5:
            return target
        if existing is None:
            await _put_verified(s3, bucket, target, body)
            return target
    raise OSError(f"s3://{bucket}/{key}: {MAX_SUFFIX} other objects already there")


async def _rotate_file(
    s3: Any, bucket: str, path: Path, cloud_id: str, hour_start: datetime
) -> tuple[str, int]:
    """Upload one file (merged with what the key holds), then delete it: (key, torn lines)."""
    lines, torn = read_readings(await asyncio.to_thread(path.read_bytes))
    key = s3_key(cloud_id, hour_start)
    if not lines:
        raise OSError(f"{path}: no readings ({torn} torn lines); left in place")
    try:
        existing = await _existing_lines(s3, bucket, key)
    except ValueError as e:
        log.warning("rainforest.rotate.foreign_object", key=key, error=str(e))
        key = await _put_beside(s3, bucket, key, _gzip(lines))
    else:
        if existing is None:
            await _put_verified(s3, bucket, key, _gzip(lines))
        else:
            merged = _merged(existing, lines)
            if merged != existing:
                await _put_verified(s3, bucket, key, _gzip(merged))
    await asyncio.to_thread(_remove, path)
    log.info("rainforest.rotate.uploaded", file=str(path), key=key, lines=len(lines), torn=torn)
    return key, torn


async def rotate(s3: Any, bucket: str, root: Path, now: datetime, grace_s: float) -> RotationResult:
    """Upload every closed hour under ``root``; delete each file only after a verified upload.
    The first S3 error ends the run (``result.error``, the untried files in ``kept``)."""
    result = RotationResult()
    files = await asyncio.to_thread(closed_hour_files, root, now, grace_s)
    if not files:
        return result
    current = 0  # index of the file in hand when S3 stops the run
    try:
        await ensure_bucket(s3, bucket)
        for current, (path, cloud_id, hour_start) in enumerate(files):  # noqa: B007
            try:
                key, torn = await _rotate_file(s3, bucket, path, cloud_id, hour_start)
            except FileNotFoundError:
                continue  # gone since the listing (a run cannot overlap: removed by hand)
            except OSError as e:
                log.error("rainforest.rotate.failed", file=str(path), error=str(e))
                result.failed.append(str(path))
                continue
            result.uploaded.append(key)
            result.torn_lines += torn
    except S3Unavailable as e:
        result.error = str(e)
        result.kept = len(files) - current
    return result


def _remove(path: Path) -> None:
    path.unlink()
    try:
        path.parent.rmdir()
    except OSError:
        pass  # other users' files of that hour are still there


async def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create the bucket if it does not exist (dev/moto; production buckets pre-exist); the
    check is also each run's probe that S3 answers (S3Unavailable if not)."""
    try:
        await s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise _s3_error(e) from None
        try:
            await s3.create_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as e:
            raise _s3_error(e) from None
    except BotoCoreError as e:
        raise _s3_error(e) from None


@asynccontextmanager
async def rotation_lock(redis: Redis, ttl_s: float = LOCK_TTL_S) -> AsyncIterator[str]:
    """Hold the one rotation lock for the block (renewed every ttl/3); RotationBusy when
    another run holds it."""
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    ttl_ms = int(ttl_s * 1000)
    if not await redis.set(LOCK_KEY, token, nx=True, px=ttl_ms):
        holder = await redis.get(LOCK_KEY)
        holder_text = holder.decode() if isinstance(holder, bytes) else holder
        raise RotationBusy(f"another rotation is running ({holder_text or 'just finished'})")
    renew = redis.register_script(RENEW_LUA)

    async def keep() -> None:
        while True:
            await asyncio.sleep(ttl_s / 3)
            try:
                await renew(keys=[LOCK_KEY], args=[token, ttl_ms])
            except Exception as e:  # noqa: BLE001 - retried; the run goes on
                log.warning("rainforest.rotate.lock_renew_failed", error=str(e))

    keeper = asyncio.create_task(keep(), name="rotation-lock")
    try:
        yield token
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await redis.register_script(RELEASE_LUA)(keys=[LOCK_KEY], args=[token])
