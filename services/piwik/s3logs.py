"""Log files on S3: listing a site's candidates for a day (by prefix, paginated, never the
whole bucket), downloading one, archiving one; and the archive key (pure)."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.piwik.sites import Site

__all__ = ["LogObject", "list_day_objects", "download", "archive_key", "archive", "ensure_bucket"]

DOWNLOAD_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class LogObject:
    """A log file on S3."""

    key: str
    etag: str
    size_bytes: int
    modified: datetime


async def list_day_objects(
    s3: Any, bucket: str, site: Site, start_utc: datetime, end_utc: datetime, lookahead_days: int
) -> list[LogObject]:
    """The site's log files (prefix + key regex) modified from the day's start until
    ``lookahead_days`` after its end: those may hold lines of that day."""
    until = end_utc + timedelta(days=lookahead_days)
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=site.prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if start_utc <= item["LastModified"] < until and site.key_regex.search(key):
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


def archive_key(prefix: str, site: str, day: date, key: str) -> str:
    """``<prefix>/<site>/%Y/%m/%d/<file name>.gz`` (the name without a .gz/.zip suffix)."""
    name = key.rpartition("/")[2]
    for suffix in (".gz", ".zip"):
        name = name.removesuffix(suffix)
    return f"{prefix.strip('/')}/{site}/{day:%Y/%m/%d}/{name}.gz"


async def archive(s3: Any, bucket: str, key: str, lines: list[str]) -> None:
    """Upload the file's text gzip'd (compressed in a thread)."""
    body = await asyncio.to_thread(lambda: gzip.compress("\n".join(lines).encode() + b"\n", 6))
    await s3.put_object(Bucket=bucket, Key=key, Body=body, ContentEncoding="gzip")


async def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists."""
    try:
        await s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        await s3.create_bucket(Bucket=bucket)
