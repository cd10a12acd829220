"""Turning a log file's bytes into hits: unpacking (plain, .gz, .zip), detecting binary
data, and parsing chunks of lines in the site's format (pure; chunks can run in worker
processes, each chunk handed the W3C ``#Fields:`` in force at its start). No I/O."""

from __future__ import annotations

import asyncio
import gzip
import io
import zipfile
import zlib
from concurrent.futures import Executor
from functools import partial

from services.piwik.errors import BadLogFile
from services.piwik.hits import ParseResult
from services.piwik.parse_json import parse_nginx_json
from services.piwik.parse_ncsa import parse_ncsa
from services.piwik.parse_w3c import fields_before, parse_w3c

__all__ = ["unpack", "parse_chunk", "parse_lines", "CHUNK_LINES"]

CHUNK_LINES = 50_000


def unpack(key: str, raw: bytes) -> list[str]:
    """The text lines of a log file (by content: gzip, zip, or plain). BadLogFile for a
    truncated archive or binary data."""
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                raw = b"".join(archive.read(name) for name in archive.namelist())
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as e:
        raise BadLogFile(f"{key}: cannot unpack: {e}") from None
    if b"\x00" in raw[:65536]:
        raise BadLogFile(f"{key}: binary data, not a text log")
    return raw.decode("utf-8", errors="replace").splitlines()


def parse_chunk(
    log_format: str, lines: list[str], first_line_no: int, fields: list[str] | None = None
) -> ParseResult:
    """Parse one chunk of lines in ``log_format`` (see services.piwik.sites.FORMATS)."""
    if log_format == "w3c":
        return parse_w3c(lines, first_line_no, fields)
    if log_format == "nginx_json":
        return parse_nginx_json(lines, first_line_no)
    return parse_ncsa(
        lines,
        first_line_no,
        vhost=log_format.startswith("vhost_"),
        combined=log_format.endswith("combined"),
    )


def _chunks(log_format: str, lines: list[str], size: int) -> list[tuple]:
    chunks = []
    fields: list[str] | None = None
    for start in range(0, len(lines), size):
        part = lines[start : start + size]
        chunks.append((log_format, part, start + 1, fields))
        if log_format == "w3c":
            fields = fields_before(part, fields)
    return chunks


async def parse_lines(
    log_format: str, lines: list[str], executor: Executor | None, size: int = CHUNK_LINES
) -> ParseResult:
    """Parse every line, chunks in ``executor`` (processes) when given; order is kept."""
    result = ParseResult()
    chunks = _chunks(log_format, lines, size)
    if executor is None or len(chunks) == 1:
        for chunk in chunks:
            result.extend(parse_chunk(*chunk))
        return result
    loop = asyncio.get_running_loop()
    parts = await asyncio.gather(
        *(loop.run_in_executor(executor, partial(parse_chunk, *c)) for c in chunks)
    )
    for part in parts:
        result.extend(part)
    return result
