"""The caches of the metric routes and their HTTP validators (no I/O).

The warehouse data changes only when the aggregator loads hours (and then bumps the data
version, ``shared.rollups``), so everything read from it is kept by data version
(:class:`VersionedCache`), and a new version makes every older entry unreachable (they age
out of the LRU). Two such caches per API process: the answers (keyed by method, path and
query, and the session's scope: superuser or its client ids, since an answer depends on
who asks) and the decoded rollups of (root campaign, UTC day) (``rollup_metrics.DayBlock``).
The ETag is the version and a digest of the answer's key; ``Last-Modified`` is when the
version was bumped. Requests that arrive together share one read of the version
(:class:`JoinedRead`), and of a session and its user (:class:`JoinedReads`), never one that
began before they arrived.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Generic, TypeVar

__all__ = [
    "VersionedCache",
    "JoinedRead",
    "JoinedReads",
    "cache_key",
    "etag",
    "etag_matches",
    "http_date",
]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


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


@functools.lru_cache(maxsize=16)  # one per data version: the same for all its answers
def http_date(moment: datetime) -> str:
    """``moment`` as an HTTP date (``Tue, 01 Dec 2026 10:00:00 GMT``)."""
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


class VersionedCache:
    """A bounded LRU of values keyed by (data version, key), and a lock per filler key so
    concurrent misses of the same thing are read once (the others wait, then find it).
    With ``max_bytes``, the values are bytes and their lengths add up to at most that
    (a value longer than it is not kept)."""

    def __init__(self, max_entries: int, max_bytes: int | None = None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0  # the values' lengths, with max_bytes
        self._entries: OrderedDict[tuple[int, Hashable], Any] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def lock(self, key: Hashable) -> asyncio.Lock:
        """The lock of whoever fills the entries of ``key`` (e.g. one root campaign's)."""
        return self._locks.setdefault(key, asyncio.Lock())

    def get(self, version: int, key: Hashable) -> Any | None:
        value = self._entries.get((version, key))
        if value is not None:
            self._entries.move_to_end((version, key))
        return value

    def put(self, version: int, key: Hashable, value: Any) -> None:
        if self.max_entries <= 0:
            return
        if self.max_bytes is not None:
            if len(value) > self.max_bytes:
                return
            old = self._entries.get((version, key))
            self.bytes += len(value) - (len(old) if old is not None else 0)
        self._entries[version, key] = value
        self._entries.move_to_end((version, key))
        while len(self._entries) > self.max_entries or (
            self.max_bytes is not None and self.bytes > self.max_bytes
        ):
            _, evicted = self._entries.popitem(last=False)
            if self.max_bytes is not None:
                self.bytes -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)


class JoinedRead(Generic[T]):
    """One read of a value (the data version) shared by the requests that want it at once,
    never older than any of them: a request joins the next read to start, not one already
    under way (which may have begun before a change the request must see), so each read
    answers every request that arrived while the previous one ran."""

    def __init__(
        self, read: Callable[[], Awaitable[T]], on_idle: Callable[[], object] | None = None
    ) -> None:
        self._read = read
        self._on_idle = on_idle  # called when a read ends and no request waits for another
        self._next: asyncio.Future[T] | None = None  # the read the newcomers wait for
        self._running: asyncio.Task[None] | None = None

    def join(self) -> asyncio.Future[T]:
        """The read this caller is answered by (the next to start: now, if none runs), to
        await later through :func:`asyncio.shield` (others wait on it too), or never."""
        future = self._next
        if future is None:
            future = self._next = asyncio.get_running_loop().create_future()
            if self._running is None:
                self._start()
        return future

    async def get(self) -> T:
        return await asyncio.shield(self.join())

    def _start(self) -> None:
        future, self._next = self._next, None
        assert future is not None
        self._running = asyncio.create_task(self._run(future))

    async def _run(self, future: asyncio.Future[T]) -> None:
        try:
            future.set_result(await self._read())
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as e:  # noqa: BLE001 - every waiter gets the read's error
            future.set_exception(e)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
        finally:
            self._running = None
            if self._next is not None:
                self._start()
            elif self._on_idle is not None:
                self._on_idle()


class JoinedReads(Generic[K, T]):
    """A :class:`JoinedRead` per key (a session's token, a user's id): the requests that
    want one key at once share one read of it, never older than any of them; a key is
    forgotten as soon as no request waits for it."""

    def __init__(self, read: Callable[[K], Awaitable[T]]) -> None:
        self._read = read
        self._joins: dict[K, JoinedRead[T]] = {}

    def join(self, key: K) -> asyncio.Future[T]:
        """:meth:`JoinedRead.join` of ``key``'s read."""
        join = self._joins.get(key)
        if join is None:
            join = self._joins[key] = JoinedRead(
                lambda: self._read(key), lambda: self._joins.pop(key, None)
            )
        return join.join()

    async def get(self, key: K) -> T:
        return await asyncio.shield(self.join(key))

    def __len__(self) -> int:
        return len(self._joins)
