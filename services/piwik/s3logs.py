"""Log files on S3: listing a site's files (by prefix, paginated, never the whole bucket),
downloading one or a byte range of one, archiving one; and the archive key (pure)."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.piwik.sites import Site

__all__ = [
    "LogObject",
    "list_site_objects",
    "download",
    "download_range",
    "archive_key",
    "archive",
    "ensure_bucket",
]

DOWNLOAD_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class LogObject:
    """A log file on S3."""

    key: str
    etag: str
    size_bytes: int
    modified: datetime


async def list_site_objects(s3: Any, bucket: str, site: Site) -> list[LogObject]:
    """The site's log files (its prefix, keys matching its regex), by key."""
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=site.prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if site.key_regex.search(key):
                found.append(
                    LogObject(key, item["ETag"].strip('"'), item["Size"], item["LastModified"])
                )
    return sorted(found, key=lambda o: o.key)


async def download(s3: Any, bucket: str, key: str) -> bytes:
    """The object's bytes, read in chunks."""
    response = await s3.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    try:
        return b"".join([chunk async for chunk in body.iter_chunks(DOWNLOAD_CHUNK_BYTES)])
    finally:
        body.close()


async def download_range(s3: Any, bucket: str, key: str, first: int, last: int) -> bytes:
    """Bytes ``first`` to ``last`` (inclusive) of the object; negative ``first``: that
    many bytes from its end (``last`` ignored)."""
    ranged = f"bytes={first}" if first < 0 else f"bytes={first}-{last}"
    response = await s3.get_object(Bucket=bucket, Key=key, Range=ranged)
    body = response["Body"]
    try:
        return await body.read()
    finally:
        body.close()


def archive_key(prefix: str, site: str, day: date, key: str) -> str:
    """``<prefix>/<site>/%Y/%m/%d/<file name>.gz`` (the name without a .gz/.zip suffix)."""
    name = key.rpartition("/")[2]
    for suffix in (".gz", ".bz2", ".zip"):
        name = name.removesuffix(suffix)
    return f"{prefix.strip('/')}/{site}/{day:%Y/%m/%d}/{name}.gz"


async def archive(s3: Any, bucket: str, key: str, raw: bytes, text: bytes) -> None:
    """Upload the file gzip'd: its own bytes when it is gzip already, else its text
    compressed (in a thread)."""
    if raw[:2] == b"\x1f\x8b":
        body = raw
    else:
        body = await asyncio.to_thread(gzip.compress, text, 6)
    await s3.put_object(Bucket=bucket, Key=key, Body=body, ContentEncoding="gzip")


async def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists."""
    try:
        await s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        await s3.create_bucket(Bucket=bucket)
