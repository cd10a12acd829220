"""JSONL log writing, off the event loop and out of the poll path: batches of lines are queued
and written in order by one worker thread, so a slow disk (creating a file can take a
millisecond, and every user starts a new file each hour) delays only when lines reach the
disk, never a poll or the Redis counting.

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

__all__ = ["LogWriter", "append_lines"]

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
    """Appends lines to ``<root>/<relative path>`` (see ``readings.log_file_of``):
    ``submit()`` queues, ``drain()`` waits until everything submitted so far is on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines_written = 0
        self.lines_failed = 0
        self._queue: list[tuple[str, str]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def submit(self, lines: Iterable[tuple[str, str]]) -> None:
        """Queue each ``(relative path, JSON line)`` for the writer thread."""
        before = len(self._queue)
        self._queue.extend(lines)
        if len(self._queue) > before:
            self._idle.clear()
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run(), name="rainforest-log-writer")

    async def drain(self) -> None:
        """Until every line submitted so far is written (or its write failed, logged)."""
        await self._idle.wait()

    async def write(self, lines: Iterable[tuple[str, str]]) -> int:
        """Submit and wait for the lines; returns how many were queued."""
        lines = list(lines)
        self.submit(lines)
        await self.drain()
        return len(lines)

    def _write(self, files: dict[str, list[str]]) -> int:
        """Append each file's lines; returns how many lines could not be written (logged)."""
        failed = 0
        for relative, lines in files.items():
            try:
                append_lines(self.root / relative, ("\n".join(lines) + "\n").encode())
            except OSError as e:
                failed += len(lines)
                log.error("rainforest.logs.write_failed", file=relative, error=str(e))
        return failed

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            files: dict[str, list[str]] = {}
            for relative, line in batch:
                files.setdefault(relative, []).append(line)
            failed = await asyncio.to_thread(self._write, files)
            self.lines_written += len(batch) - failed
            self.lines_failed += failed
        self._idle.set()
