"""Loading a run's parts into a warehouse table: streamed COPY (postgres) or COPY FROM S3
with a manifest (redshift)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from services.sync.concurrency import task_group
from services.sync.dialects import RedshiftAuth, redshift_copy_sql
from services.sync.s3 import get_bytes
from shared.logging import get_logger

__all__ = ["load_postgres", "load_redshift"]

log = get_logger("forklift.sync.load")

_COPY_CHUNK_BYTES = 4 * 1024 * 1024


async def _fetch_parts(
    s3: Any, bucket: str, keys: AsyncIterator[str], queue: asyncio.Queue
) -> None:
    async for key in keys:
        packed = await get_bytes(s3, bucket, key)
        await queue.put(await asyncio.to_thread(gzip.decompress, packed))
    await queue.put(None)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), _COPY_CHUNK_BYTES):
        yield view[start : start + _COPY_CHUNK_BYTES]


async def load_postgres(
    conn: asyncpg.Connection,
    s3: Any,
    bucket: str,
    keys: AsyncIterator[str],
    table: str,
    columns: Sequence[str],
) -> int:
    """COPY each part named by ``keys`` into ``table`` (CSV) as the keys arrive (while the
    export still runs), downloading the next part meanwhile."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=2)
    rows = 0
    async with task_group() as group:
        group.create_task(_fetch_parts(s3, bucket, keys, queue))
        while (data := await queue.get()) is not None:
            status = await conn.copy_to_table(
                table, source=_chunks(data), columns=list(columns), format="csv"
            )
            rows += int(status.split()[-1])
    return rows


async def load_redshift(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    manifest_url: str,
    auth: RedshiftAuth,
) -> None:
    """Redshift reads the parts itself; the logged statement hides any secret key."""
    log.info(
        "sync.redshift.copy", sql=redshift_copy_sql(table, columns, manifest_url, auth, redact=True)
    )
    await conn.execute(redshift_copy_sql(table, columns, manifest_url, auth, redact=False))
