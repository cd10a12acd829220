"""The response cache of the metric routes and their HTTP validators (no I/O).

An answer depends on the warehouse data, which changes only when the aggregator loads
hours (and then bumps the data version, ``shared.rollups``), and on who asks. So a cached
answer is keyed by (data version, method, path and query, the session's scope: superuser
or its client ids), and a new version makes every older entry unreachable (they age out
of the LRU). The ETag is the version and a digest of the key; ``Last-Modified`` is when
the version was bumped. Each API process has its own cache.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime
from email.utils import format_datetime

__all__ = ["ResponseCache", "cache_key", "etag", "etag_matches", "http_date"]


def cache_key(method: str, path_qs: str, superuser: bool, client_ids: tuple[int, ...]) -> str:
    """What, besides the data, an answer depends on."""
    scope = "superuser" if superuser else ",".join(map(str, client_ids))
    return f"{method} {path_qs} {scope}"


def etag(version: int, key: str) -> str:
    """A strong ETag: the data version and the digest of the request's key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f'"v{version}-{digest}"'


def etag_matches(if_none_match: str, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (weak comparison, or ``*``)."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


def http_date(moment: datetime) -> str:
    """``moment`` as an HTTP date (``Tue, 01 Dec 2026 10:00:00 GMT``)."""
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


class ResponseCache:
    """A bounded LRU of answer bodies keyed by (data version, request key)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, version: int, key: str) -> bytes | None:
        body = self._entries.get((version, key))
        if body is None:
            self.misses += 1
            return None
        self._entries.move_to_end((version, key))
        self.hits += 1
        return body

    def put(self, version: int, key: str, body: bytes) -> None:
        if self.max_entries <= 0:
            return
        self._entries[version, key] = body
        self._entries.move_to_end((version, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
