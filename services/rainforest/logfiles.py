"""JSONL log writing, off the event loop and out of the poll path: batches of lines are queued
and written in order by one worker thread, so a slow disk (creating a file can take a
millisecond, and every user starts a new file each hour) delays only when lines reach the
disk, never a poll or the Redis counting.

Lines are appended with one ``O_APPEND`` write per file and batch. The files of the current
UTC hour stay open between batches (as many as the process's descriptor limit allows once
its sockets have theirs; opening and closing a file per line doubled the writing's cost):
rotation only takes hours that ended, and the descriptors are closed when the hour turns, so
a file rotation uploads and deletes is never written through a stale one; a kept file found
deleted (by hand) is opened anew. Files of any other hour are opened, appended to and closed. Before appending,
a file that does not end with a newline (a torn last line: a crash mid-write, an edit by hand)
gets one, so the torn line stays a line of its own, which rotation skips, instead of
swallowing the next reading; a kept file is checked again whenever its size is not what this
writer left (another poller wrote it meanwhile).
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Iterable
from pathlib import Path

from shared.logging import get_logger

__all__ = ["LogWriter", "append_lines"]

log = get_logger("forklift.rainforest.logs")

_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def _open(path: Path) -> int:
    try:
        return os.open(path, _FLAGS, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, _FLAGS, 0o644)


def _append(fd: int, size: int, data: bytes, expected: int = -1) -> int:
    """Append ``data`` to the file of ``fd`` (now ``size`` bytes long), first ending a torn
    last line unless the size is ``expected`` (this writer's own last append ended it);
    returns the size after."""
    if size and size != expected and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data
    written = os.write(fd, data)
    if written < len(data):  # a short write: the rest, until all is written
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]
    return size + len(data)


def append_lines(path: Path, data: bytes) -> None:
    """Append ``data`` (whole lines) to ``path``, first ending a torn last line."""
    fd = _open(path)
    try:
        _append(fd, os.fstat(fd).st_size, data)
    finally:
        os.close(fd)


def _kept_files_limit(sockets: int) -> int:
    """How many files may stay open: the descriptor limit less ``sockets`` and a margin."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65_536
    return max(0, min(65_536, soft - sockets - 256))


class LogWriter:
    """Appends lines to ``<root>/<relative path>`` (see ``readings.log_file_of``):
    ``submit()`` queues, ``drain()`` waits until everything submitted so far is on disk.
    ``sockets``: the descriptors the process needs besides (the files kept open get the rest)."""

    def __init__(self, root: Path, sockets: int = 1024) -> None:
        self.root = root
        self.lines_written = 0
        self.lines_failed = 0
        self._queue: list[tuple[str, str]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        # the current hour's files kept open: relative path -> (fd, size this writer left)
        self._kept: dict[str, tuple[int, int]] = {}
        self._kept_hour = ""
        self._kept_limit = _kept_files_limit(sockets)

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

    def _write(self, batch: list[tuple[str, str]]) -> int:
        """Append each file's lines of ``batch``; returns how many lines could not be written
        (logged)."""
        files: dict[str, str] = {}
        for relative, line in batch:  # usually one line a file: a string for it, not a list
            text = files.get(relative)
            files[relative] = f"{line}\n" if text is None else f"{text}{line}\n"
        hour = time.strftime("%Y-%m-%d-%H/", time.gmtime())
        if hour != self._kept_hour:
            self.close_files()
            self._kept_hour = hour
        failed = 0
        for relative, text in files.items():
            data = text.encode()
            try:
                if relative.startswith(hour) and (
                    relative in self._kept or len(self._kept) < self._kept_limit
                ):
                    self._append_kept(relative, data)
                else:
                    append_lines(self.root / relative, data)
            except OSError as e:
                failed += text.count("\n")
                log.error("rainforest.logs.write_failed", file=relative, error=str(e))
        return failed

    def _append_kept(self, relative: str, data: bytes) -> None:
        fd, expected = self._kept.pop(relative, (-1, -1))
        try:
            if fd >= 0:
                stat = os.fstat(fd)
                if stat.st_nlink == 0:  # deleted meanwhile: write to the file at the path
                    os.close(fd)
                    fd = -1
            if fd < 0:
                fd, expected = _open(self.root / relative), -1
                stat = os.fstat(fd)
            self._kept[relative] = (fd, _append(fd, stat.st_size, data, expected))
        except OSError:
            if fd >= 0:
                os.close(fd)
            raise

    def close_files(self) -> None:
        """Close the files kept open (the next batch opens what it needs)."""
        kept, self._kept = self._kept, {}
        for fd, _ in kept.values():
            os.close(fd)

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                failed = await asyncio.to_thread(self._write, batch)
            except Exception as e:  # noqa: BLE001 - a bug here must not leave drain() waiting
                log.error("rainforest.logs.write_failed", error=f"{type(e).__name__}: {e}")
                failed = len(batch)
            self.lines_written += len(batch) - failed
            self.lines_failed += failed
        self._idle.set()
