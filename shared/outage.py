"""One log line per outage: a loop that retries a dependency every few milliseconds logs
when it starts failing and when it answers again, not once per try."""

from __future__ import annotations

import time
from typing import Any

from shared.errors import describe

__all__ = ["OutageLog"]


class OutageLog:
    """Tracks one dependency's failures for ``log``: :meth:`failed` on each failing try,
    :meth:`ok` on each success. Logs ``<event>`` (error) at the first failure of an outage
    and ``<event>.recovered`` (info, with how long and how many tries failed) at the next
    success."""

    def __init__(self, log: Any, event: str, **fields: Any) -> None:
        self.log = log
        self.event = event
        self.fields = fields
        self.failures = 0
        self._since = 0.0

    @property
    def down(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException, **fields: Any) -> None:
        if not self.failures:
            self._since = time.monotonic()
            self.log.error(self.event, error=describe(error), **self.fields, **fields)
        self.failures += 1

    def ok(self) -> None:
        if self.failures:
            seconds = round(time.monotonic() - self._since, 1)
            self.log.info(
                f"{self.event}.recovered", failures=self.failures, seconds=seconds, **self.fields
            )
            self.failures = 0
