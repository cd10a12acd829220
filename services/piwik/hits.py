"""What a parsed log line becomes (a :class:`Hit`) and what parsing a chunk of lines
returns (:class:`ParseResult`). No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

__all__ = ["Hit", "ParseResult", "SAMPLE_LIMIT"]

# Malformed lines kept per file, for the ledger.
SAMPLE_LIMIT = 5
SAMPLE_CHARS = 300


class Hit(NamedTuple):
    """One request from a log. ``host`` is empty when the log does not say."""

    time: datetime  # aware, UTC
    ip: str
    method: str
    host: str
    path: str  # path and query string
    status: int
    size_bytes: int
    referrer: str
    user_agent: str
    line_no: int


@dataclass
class ParseResult:
    """Hits parsed from some lines, and the count and a sample of malformed ones."""

    hits: list[Hit] = field(default_factory=list)
    bad_lines: int = 0
    samples: list[str] = field(default_factory=list)

    def bad(self, line_no: int, line: str) -> None:
        self.bad_lines += 1
        if len(self.samples) < SAMPLE_LIMIT:
            self.samples.append(f"{line_no}: {line[:SAMPLE_CHARS]}")

    def extend(self, other: ParseResult) -> None:
        self.hits.extend(other.hits)
        self.bad_lines += other.bad_lines
        room = SAMPLE_LIMIT - len(self.samples)
        self.samples.extend(other.samples[: max(0, room)])
