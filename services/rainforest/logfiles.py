"""JSONL log writing: lines queued in memory, written in a worker thread on ``flush()`` (the
Recorder calls it every ``flush_interval_s``) through a bounded pool of open files, so writes
never block the event loop."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from services.rainforest.readings import log_file_name
from shared.logging import get_logger

__all__ = ["LogWriter"]

log = get_logger("forklift.rainforest.logs")


class LogWriter:
    """Appends normalized readings to ``<root>/%Y-%m-%d-%H/iseif-rainforest-<id>-<hour>.jl``."""

    def __init__(self, root: Path, max_open_files: int) -> None:
        self.root = root
        self.max_open_files = max_open_files
        self._pending: list[tuple[str, str]] = []
        self._files: OrderedDict[str, IO[str]] = OrderedDict()
        self._flush_lock = asyncio.Lock()
        self.lines_written = 0

    def append(self, reading: dict[str, Any]) -> None:
        """Queue ``reading`` for the file of the UTC hour it was received in."""
        received = datetime.fromisoformat(reading["received_at"]).astimezone(UTC)
        self._pending.append((log_file_name(reading["cloud_id"], received), json.dumps(reading)))

    def _open(self, relative: str) -> IO[str]:
        handle = self._files.pop(relative, None)
        if handle is None:
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - pooled, closed on evict
            while len(self._files) >= self.max_open_files:
                self._files.popitem(last=False)[1].close()
        self._files[relative] = handle
        return handle

    def _write(self, batch: list[tuple[str, str]], current_hour: str) -> None:
        for relative, line in batch:
            self._open(relative).write(line + "\n")
        for relative in list(self._files):
            handle = self._files[relative]
            handle.flush()
            if not relative.startswith(current_hour):  # a closed hour: release its file
                self._files.pop(relative).close()

    async def flush(self) -> int:
        """Write every queued line now; returns how many."""
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            hour = datetime.now(UTC).strftime("%Y-%m-%d-%H")
            await asyncio.to_thread(self._write, batch, hour)
            self.lines_written += len(batch)
            return len(batch)

    async def close(self) -> None:
        """Write what is queued and close every file."""
        await self.flush()
        await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        while self._files:
            self._files.popitem()[1].close()
