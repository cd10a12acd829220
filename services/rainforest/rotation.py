"""Hourly rotation: every closed hour's JSONL file (of any user, polled or not) is gzip'd,
uploaded to S3, verified by MD5 against the object's ETag, and only then deleted locally.

An object already at the key with the same content counts as uploaded (a re-run after a crash);
one with different content is never overwritten: the upload goes to ``<key>.1``, ``<key>.2``...
A failed upload leaves the file in place for the next run.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.rainforest.readings import s3_key
from shared.logging import get_logger

__all__ = ["RotationResult", "closed_hour_files", "rotate", "ensure_bucket"]

log = get_logger("forklift.rainforest.rotation")

FILE_RE = re.compile(
    r"^iseif-rainforest-(?P<cloud_id>[0-9A-Za-z]+)-(?P<hour>\d{4}-\d\d-\d\d-\d\d)\.jl$"
)
MAX_SUFFIX = 100


@dataclass
class RotationResult:
    uploaded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"uploaded": len(self.uploaded), "failed": len(self.failed)}


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


def _gzip_file(path: Path) -> bytes:
    return gzip.compress(path.read_bytes(), mtime=0)  # mtime=0: same input, same bytes, same MD5


async def _existing_etag(s3: Any, bucket: str, key: str) -> str | None:
    try:
        head = await s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head["ETag"].strip('"')


async def _upload_verified(s3: Any, bucket: str, key: str, body: bytes) -> str:
    """Upload ``body`` at ``key`` (or a free suffix) and verify; returns the key used."""
    md5 = hashlib.md5(body, usedforsecurity=False)
    for attempt in range(MAX_SUFFIX):
        target = key if attempt == 0 else f"{key}.{attempt}"
        existing = await _existing_etag(s3, bucket, target)
        if existing == md5.hexdigest():
            return target
        if existing is not None:
            continue
        await s3.put_object(
            Bucket=bucket, Key=target, Body=body, ContentMD5=base64.b64encode(md5.digest()).decode()
        )
        if await _existing_etag(s3, bucket, target) != md5.hexdigest():
            raise OSError(f"s3://{bucket}/{target}: ETag does not match the uploaded MD5")
        return target
    raise OSError(f"s3://{bucket}/{key}: {MAX_SUFFIX} different objects already there")


async def rotate(s3: Any, bucket: str, root: Path, now: datetime, grace_s: float) -> RotationResult:
    """Upload every closed hour under ``root``; delete each file only after a verified upload."""
    result = RotationResult()
    for path, cloud_id, hour_start in await asyncio.to_thread(
        closed_hour_files, root, now, grace_s
    ):
        try:
            body = await asyncio.to_thread(_gzip_file, path)
            key = await _upload_verified(s3, bucket, s3_key(cloud_id, hour_start), body)
        except (OSError, ClientError, BotoCoreError) as e:
            log.error("rainforest.rotate.failed", file=str(path), error=f"{type(e).__name__}: {e}")
            result.failed.append(str(path))
            continue
        await asyncio.to_thread(_remove, path)
        log.info("rainforest.rotate.uploaded", file=str(path), key=key, size_bytes=len(body))
        result.uploaded.append(key)
    return result


def _remove(path: Path) -> None:
    path.unlink()
    try:
        path.parent.rmdir()
    except OSError:
        pass  # other users' files of that hour are still there


async def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create the bucket if it does not exist (dev/moto; production buckets pre-exist)."""
    try:
        await s3.head_bucket(Bucket=bucket)
    except ClientError:
        await s3.create_bucket(Bucket=bucket)
