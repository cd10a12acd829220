"""A log file's bytes -> its lines -> per-day figures, requests and rows: unpacking (plain,
gzip, bzip2, zip: by content, not by name), decoding in the site's encoding, format
detection, and processing chunks of lines, in worker processes when given (each chunk
handed the W3C ``#Fields:`` in force at its start), merged back in file order. The
I/O-free core of an import."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import io
import zipfile
import zlib
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial

from services.piwik.chunks import ChunkPlan, ChunkResult, DayPart, process_chunk
from services.piwik.errors import BadLogFile
from services.piwik.formats import FormatSpec, UnknownFormat, resolve

__all__ = [
    "CHUNK_LINES",
    "unpack",
    "decode_lines",
    "detect",
    "FileParse",
    "Merging",
    "parse_chunks",
    "parse_file",
]

CHUNK_LINES = 10_000
DETECT_LINES = 1000


def unpack(key: str, raw: bytes) -> bytes:
    """The text bytes of a log file, gzip (one or more members), bzip2 or zip (members
    concatenated) unpacked. BadLogFile for a truncated archive or binary data."""
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:3] == b"BZh":
            raw = bz2.decompress(raw)
        elif raw[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [archive.read(name) for name in archive.namelist()]
            raw = b"".join(m if m.endswith(b"\n") else m + b"\n" for m in members if m)
    except (EOFError, OSError, ValueError, zlib.error, zipfile.BadZipFile) as e:
        raise BadLogFile(f"{key}: cannot unpack: {e}") from None
    if b"\x00" in raw[:65536]:
        raise BadLogFile(f"{key}: binary data, not a text log")
    return raw


def decode_lines(raw: bytes, encoding: str) -> list[str]:
    """The lines of unpacked text in ``encoding`` (bytes it cannot read become U+FFFD; a
    UTF-8 byte order mark is dropped); lines end at ``\\n``, ``\\r\\n`` or ``\\r``."""
    text = raw.decode(encoding, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def detect(key: str, spec: FormatSpec, lines: list[str]) -> FormatSpec:
    """The file's concrete format; BadLogFile when none reads its first lines."""
    try:
        return resolve(spec, lines[:DETECT_LINES])
    except UnknownFormat as e:
        raise BadLogFile(f"{key}: {e}") from None


@dataclass
class FileParse:
    """A whole file processed: its parts per log day (day ordinal -> part, every line
    counted on the day of the hit before it, or of its first hit), and the lines of a
    file with no hit at all."""

    days: dict[int, DayPart] = field(default_factory=dict)
    undated: DayPart = field(default_factory=DayPart)
    lines: int = 0


def _fields_in_force(lines: list[str], fields: str | None) -> str | None:
    for line in lines:
        if line.startswith("#Fields:"):
            fields = line
    return fields


def _chunks(plan: ChunkPlan, lines: list[str], size: int) -> list[tuple]:
    chunks = []
    fields: str | None = None
    for start in range(0, len(lines), size):
        part = lines[start : start + size]
        chunks.append((plan, part, start + 1, fields))
        if plan.log_format.is_w3c:
            fields = _fields_in_force(part, fields)
    return chunks


class Merging:
    """Chunk results merged as they come, in file order."""

    def __init__(self) -> None:
        self._merged = FileParse()
        self._previous: int | None = None
        self._leading = DayPart()  # lines before the file's first hit

    def add(self, result: ChunkResult) -> None:
        merged = self._merged
        if result.lead.lines:
            target = merged.days[self._previous] if self._previous is not None else self._leading
            target.merge(result.lead)
        for day, part in result.days.items():
            if day not in merged.days:
                merged.days[day] = DayPart(requests=[[] for _ in part.requests])
            merged.days[day].merge(part)
        if result.last_day is not None:
            self._previous = result.last_day

    def result(self) -> FileParse:
        merged, leading = self._merged, self._leading
        if leading.lines:
            if merged.days:
                first_day = next(iter(merged.days))
                leading.merge(merged.days[first_day])
                merged.days[first_day] = leading
            else:
                merged.undated = leading
        merged.lines = sum(p.lines for p in merged.days.values()) + merged.undated.lines
        return merged


async def parse_chunks(
    plan: ChunkPlan, lines: list[str], executor: Executor | None, size: int = CHUNK_LINES
) -> AsyncIterator[ChunkResult]:
    """Each chunk's result, in file order, as soon as it (and those before it) are done:
    all chunks run in ``executor`` (processes) when given, else one by one in a thread."""
    chunks = _chunks(plan, lines, size)
    if executor is None or len(chunks) == 1:
        for chunk in chunks:
            yield await asyncio.to_thread(process_chunk, *chunk)
        return
    loop = asyncio.get_running_loop()
    futures = [loop.run_in_executor(executor, partial(process_chunk, *c)) for c in chunks]
    try:
        for future in futures:
            yield await future
    finally:
        for future in futures:
            future.cancel()


async def parse_file(
    plan: ChunkPlan, lines: list[str], executor: Executor | None, size: int = CHUNK_LINES
) -> FileParse:
    """Process every line (see :func:`parse_chunks`); the result is the same with or
    without processes."""
    merging = Merging()
    async for result in parse_chunks(plan, lines, executor, size):
        merging.add(result)
    return merging.result()
