"""What a parsed log line becomes (a :class:`Hit`) and the malformed-line sample kept per
file. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

__all__ = ["Hit", "Event", "SAMPLE_LIMIT", "SAMPLE_CHARS", "sample"]

# Malformed lines kept per file and day, for the ledger.
SAMPLE_LIMIT = 5
SAMPLE_CHARS = 300


class Event(NamedTuple):
    """A Matomo event a log line stands for (CloudFront RTMP streaming logs)."""

    category: str
    action: str
    name: str | None


class Hit(NamedTuple):
    """One request from a log, with the fields import_logs.py reads from it."""

    time: datetime  # aware, UTC; microseconds when the log has them
    ip: str
    method: str  # "" when the log does not say
    host: str | None  # None: the format has no host (the site's main URL is used)
    path: str  # without the query string
    query: str
    status: str  # as logged, e.g. "200"
    length: int  # bytes sent, 0 when unknown
    referrer: str
    user_agent: str
    userid: str | None  # None: no user (the log has none or "-")
    generation_ms: float  # time taken, 0 when unknown
    event: Event | None
    line_no: int


def sample(line_no: int, line: str) -> str:
    """How a malformed line is kept in the ledger: its number and its first characters."""
    return f"{line_no}: {line[:SAMPLE_CHARS]}"
