"""Streaming rows out of the source as gzip CSV parts on S3, uploaded while they come."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.sync.concurrency import task_group
from services.sync.layout import part_key, record_end
from services.sync.s3 import put_bytes
from shared.logging import get_logger

__all__ = ["ExportTarget", "ExportResult", "PartWriter", "export_stream", "export_query"]

log = get_logger("forklift.sync.export")

PartCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ExportTarget:
    """Where and how parts are written."""

    bucket: str
    prefix: str
    table: str
    run_id: str
    part_size_bytes: int
    chunk_bytes: int
    gzip_level: int = 1
    upload_concurrency: int = 4


@dataclass
class ExportResult:
    """What an export produced: ``parts`` are ``(key, gzip size)`` in order; ``nulled``
    counts, per column, values the source could not express that were sent as NULL."""

    rows: int = 0
    raw_bytes: int = 0
    gzip_bytes: int = 0
    parts: list[tuple[str, int]] = field(default_factory=list)
    export_s: float = 0.0
    upload_s: float = 0.0
    nulled: dict[str, int] = field(default_factory=dict)


class PartWriter:
    """Cuts a CSV stream into whole-record parts and feeds them to the uploaders."""

    def __init__(self, target: ExportTarget, queue: asyncio.Queue) -> None:
        self.target = target
        self.queue = queue
        self.buffer = bytearray()
        self.count = 0

    async def write(self, data: bytes) -> None:
        """Add any chunk of the stream (cut at record boundaries found by scanning)."""
        self.buffer.extend(data)
        if len(self.buffer) >= self.target.part_size_bytes:
            cut = record_end(self.buffer)
            if cut:
                await self._emit(bytes(self.buffer[:cut]))
                del self.buffer[:cut]

    async def write_records(self, data: bytes) -> None:
        """Add whole records (``data`` ends at a record boundary). Several producers may
        write at once: the buffer is taken before waiting for an uploader."""
        self.buffer.extend(data)
        if len(self.buffer) >= self.target.part_size_bytes:
            part = bytes(self.buffer)
            self.buffer.clear()
            await self._emit(part)

    async def finish(self) -> None:
        if self.buffer:
            part = bytes(self.buffer)
            self.buffer.clear()
            await self._emit(part)

    async def _emit(self, data: bytes) -> None:
        number, self.count = self.count, self.count + 1
        await self.queue.put((number, data))


async def _uploader(
    s3: Any,
    target: ExportTarget,
    queue: asyncio.Queue,
    result: ExportResult,
    sizes: dict[int, tuple[str, int]],
    on_part: PartCallback | None,
) -> None:
    while (item := await queue.get()) is not None:
        number, data = item
        packed = await asyncio.to_thread(gzip.compress, data, target.gzip_level)
        key = part_key(target.prefix, target.table, target.run_id, number)
        await put_bytes(s3, target.bucket, key, packed, target.chunk_bytes)
        sizes[number] = (key, len(packed))
        result.raw_bytes += len(data)
        result.gzip_bytes += len(packed)
        log.debug("sync.part.uploaded", table=target.table, part=number, gzip_bytes=len(packed))
        if on_part is not None:
            await on_part(key)


Producer = Callable[[PartWriter, ExportResult], Awaitable[int]]


async def export_stream(
    s3: Any, target: ExportTarget, produce: Producer, on_part: PartCallback | None = None
) -> ExportResult:
    """Run ``produce(writer, result)``, which writes CSV into ``writer`` and returns the
    rows written, into gzip parts of about ``part_size_bytes`` raw bytes each,
    ``upload_concurrency`` of them compressed and uploaded at once; ``on_part(key)`` is
    awaited as each part lands (in any order)."""
    result = ExportResult()
    queue: asyncio.Queue = asyncio.Queue(maxsize=target.upload_concurrency)
    parts = PartWriter(target, queue)
    sizes: dict[int, tuple[str, int]] = {}
    started = time.monotonic()
    async with task_group() as group:
        for _ in range(target.upload_concurrency):
            group.create_task(_uploader(s3, target, queue, result, sizes, on_part))
        # An uploader's failure cancels the producer; its failure cancels the uploaders.
        rows = await produce(parts, result)
        await parts.finish()
        for _ in range(target.upload_concurrency):
            await queue.put(None)
        result.export_s = time.monotonic() - started
    result.upload_s = time.monotonic() - started - result.export_s
    result.rows = rows
    result.parts = [sizes[n] for n in sorted(sizes)]
    return result


async def export_query(
    conn: asyncpg.Connection,
    s3: Any,
    target: ExportTarget,
    query: str,
    *args: Any,
    on_part: PartCallback | None = None,
) -> ExportResult:
    """Export ``COPY (query) TO STDOUT`` as CSV (a Postgres source) with ``export_stream``."""

    async def produce(parts: PartWriter, result: ExportResult) -> int:
        status = await conn.copy_from_query(query, *args, output=parts.write, format="csv")
        return int(status.split()[-1])

    return await export_stream(s3, target, produce, on_part)
