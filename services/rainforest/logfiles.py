"""JSONL log writing: lines are written in a worker thread, batched per file, so writes never
block the event loop.

Each batch opens a file, appends its lines with one ``O_APPEND`` write and closes it: no file
stays open, so a file handed to another poller (or uploaded and deleted by rotation) is never
written through a stale descriptor. Before appending, a file that does not end with a newline
(a torn last line: a crash mid-write, an edit by hand) gets one, so the torn line stays a line
of its own, which rotation skips, instead of swallowing the next reading.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from pathlib import Path

from shared.logging import get_logger

__all__ = ["LogWriter"]

log = get_logger("forklift.rainforest.logs")

_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def append_lines(path: Path, data: bytes) -> None:
    """Append ``data`` (whole lines) to ``path``, first ending a torn last line."""
    try:
        fd = os.open(path, _FLAGS, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, _FLAGS, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class LogWriter:
    """Appends lines to ``<root>/<relative path>`` (see ``readings.log_file_of``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines_written = 0

    def _write(self, files: dict[str, list[str]]) -> None:
        for relative, lines in files.items():
            append_lines(self.root / relative, ("\n".join(lines) + "\n").encode())

    async def write(self, lines: Iterable[tuple[str, str]]) -> int:
        """Append each ``(relative path, JSON line)``; returns how many lines."""
        files: dict[str, list[str]] = {}
        for relative, line in lines:
            files.setdefault(relative, []).append(line)
        count = sum(len(batch) for batch in files.values())
        if count:
            await asyncio.to_thread(self._write, files)
            self.lines_written += count
        return count
