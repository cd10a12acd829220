"""The relay's HTTP client: POSTs to the one configured relay over kept-alive connections,
with a plain asyncio protocol (``http1`` frames the bytes) instead of aiohttp's ClientSession,
whose request machinery (request and response objects, header multidicts, payload writers,
stream readers, timer contexts) was the largest part of a poll's CPU.

Every request is bounded by its timeout (connect, send and reply together), checked by one
reaper every ``REAP_INTERVAL_S`` for all requests in flight rather than a timer per request
(arming and cancelling one per poll cost as much as the rest of the request); a connection
that timed out, failed, or whose reply was not whole or asked to close is closed, never
reused. A kept-alive connection the relay closed while idle is skipped; if it closes just
as a request is sent (nothing of the reply received) the request goes once more on a new
connection: the relay's one command is a read.

The client keeps its event loop (bound at its first request) rather than asking
``asyncio.get_running_loop()`` on every request: on Python 3.11 each of those calls is a
``getpid()`` system call, which cost more than the rest of sending a request.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from services.rainforest.http1 import MalformedReply, ReplyParser, request_bytes

__all__ = ["RelayClient", "REAP_INTERVAL_S"]

REAP_INTERVAL_S = 0.1  # a request ends at most this long after its timeout


class _Connection(asyncio.Protocol):
    """One connection to the relay: one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.received = False  # any byte of the current reply
        self._parser: ReplyParser | None = None
        self._waiter: asyncio.Future[ReplyParser] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes) -> asyncio.Future[ReplyParser]:
        assert self.transport is not None
        self._parser, self.received = ReplyParser(), False
        self._waiter = self.loop.create_future()
        self.transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self._parser is None:
            self.close()  # bytes nobody asked for: this connection is out of step
            return
        try:
            if self._parser.feed(data):
                self._complete()
        except MalformedReply as e:
            self._fail(e)

    def eof_received(self) -> bool:
        if self._parser is not None and not self.received:
            self._fail(ConnectionResetError("the relay closed the connection"))
        elif self._parser is not None:
            try:
                if self._parser.eof():
                    self._complete()
            except MalformedReply as e:
                self._fail(e)
        self.closed = True
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None:
            self._fail(exc or ConnectionResetError("the relay closed the connection"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def expire(self) -> None:
        """The request's time is up: it fails with TimeoutError, the connection closes."""
        self._fail(TimeoutError("the relay did not answer in time"))

    def _complete(self) -> None:
        parser, waiter = self._parser, self._waiter
        self._parser = self._waiter = None
        if parser is not None and not parser.keep_alive:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(parser)  # type: ignore[arg-type]

    def _fail(self, error: BaseException) -> None:
        waiter = self._waiter
        self._parser = self._waiter = None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class RelayClient:
    """POSTs to ``url`` (``http://`` or ``https://``), keeping up to ``limit`` idle
    connections for reuse."""

    def __init__(self, url: str, limit: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"relay URL must be http(s)://host[:port]/path: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default_port else f"{host}:{self.port}"
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.limit = limit
        self._idle: list[_Connection] = []
        self._closed = False
        self._deadlines: dict[_Connection, float] = {}  # requests in flight -> loop time
        self._reaper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # bound at the first request

    def request(self, headers: dict[str, str], body: bytes) -> bytes:
        """The bytes of a POST with ``headers`` and ``body`` (build once, send many times)."""
        return request_bytes("POST", self.target, self.host_header, headers, body)

    async def post(self, request: bytes, timeout_s: float) -> tuple[int, bytes]:
        """Send ``request`` (from :meth:`request`); (status, body) of the reply within
        ``timeout_s``; TimeoutError, OSError or MalformedReply otherwise."""
        loop = self._loop or self._bind()
        deadline = loop.time() + timeout_s
        connection, reused = self._take(), True
        if connection is None:
            connection, reused = await self._connect(deadline), False
        try:
            try:
                reply = await self._send(connection, request, deadline)
            except ConnectionError:
                if not reused or connection.received:
                    raise
                self._deadlines.pop(connection, None)
                connection = await self._connect(deadline)  # closed by the relay while idle
                reply = await self._send(connection, request, deadline)
        except BaseException:
            self._deadlines.pop(connection, None)
            connection.close()
            raise
        self._deadlines.pop(connection, None)
        if connection.closed or self._closed or len(self._idle) >= self.limit:
            connection.close()
        else:
            self._idle.append(connection)
        return reply.status, reply.body

    def _bind(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _take(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, deadline: float) -> _Connection:
        loop = self._loop or self._bind()
        async with asyncio.timeout_at(deadline):  # rare: connections are kept
            _, connection = await loop.create_connection(
                lambda: _Connection(loop),
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self.host if self._ssl else None,
            )
        return connection

    def _send(
        self, connection: _Connection, request: bytes, deadline: float
    ) -> asyncio.Future[ReplyParser]:
        """Send on ``connection``: the reply's future, failed by the reaper after ``deadline``
        (a plain function, not a coroutine: one frame less to resume per reply; the caller
        takes the deadline off once the future is done)."""
        waiter = connection.send(request)
        self._deadlines[connection] = deadline
        if self._reaper is None or self._reaper.done():
            self._reaper = connection.loop.create_task(self._reap(), name="rainforest-relay-reaper")
        return waiter

    async def _reap(self) -> None:
        """Fail the requests past their deadline, while any are in flight."""
        loop = self._loop or self._bind()
        while self._deadlines:
            await asyncio.sleep(REAP_INTERVAL_S)
            now = loop.time()
            expired = [c for c, deadline in self._deadlines.items() if deadline <= now]
            for connection in expired:
                del self._deadlines[connection]
                connection.expire()

    def close(self) -> None:
        """Close the idle connections (those in use close after their request) and stop
        the reaper."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        if self._reaper is not None:
            self._reaper.cancel()
