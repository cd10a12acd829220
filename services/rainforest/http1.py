"""Pure logic: the HTTP/1.1 the relay client speaks (``relay.RelayClient``): one request's
bytes, and an incremental parser of the reply (status, headers, a body framed by
``Content-Length``, chunked or ended by the close), bounded in size.

Only what a POST to the relay needs; anything else in a reply is a :class:`MalformedReply`
(a ``ValueError``: the adapters report it as the relay not answering).
"""

from __future__ import annotations

import functools
import re

__all__ = ["MalformedReply", "ReplyParser", "request_bytes"]

MAX_HEAD_BYTES = 32_768
MAX_BODY_BYTES = 1_048_576
_STATUS_RE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: [^\r\n]*)?")
_TOKEN_RE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADERS_RE = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*\r\n)*")  # header lines
_HEADER_RE = re.compile(rb"([^:]+):([^\r\n]*)\r\n")
_VALUE_BAD = re.compile(r"[\x00-\x1f\x7f]")


class MalformedReply(ValueError):
    """The bytes received are not an HTTP/1.x reply this client accepts."""


def request_bytes(
    method: str, target: str, host: str, headers: dict[str, str], body: bytes
) -> bytes:
    """One request with ``Content-Length`` (keep-alive is HTTP/1.1's default); ValueError
    for a header that would break the framing (a control character, e.g. CR/LF)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if not _TOKEN_RE.fullmatch(name.encode()) or _VALUE_BAD.search(value):
            raise ValueError(f"header {name!r} has characters HTTP does not allow")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


class ReplyParser:
    """Feed it the bytes of one reply as they come (:meth:`feed` returns True once it is
    complete), then read ``status``, ``body`` and ``keep_alive``; :meth:`eof` when the peer
    closed (completes a close-delimited body, else MalformedReply)."""

    def __init__(self) -> None:
        self.status = 0
        self.body = b""
        self.keep_alive = True
        self.done = False
        self._buffer = bytearray()
        self._length: int | None = None  # Content-Length, once the head is read
        self._chunked = False
        self._until_close = False
        self._head_read = False
        self._chunks: list[bytes] = []
        self._chunk_left = -1  # bytes left in the current chunk (-1: a size line is next)
        self._trailer = False

    def feed(self, data: bytes) -> bool:
        if self.done:
            if data:
                raise MalformedReply("bytes after the reply")
            return True
        self._buffer += data
        if not self._head_read:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise MalformedReply("reply head too long")
                return False
            head, self._buffer = bytes(self._buffer[:end]), self._buffer[end + 4 :]
            self._read_head(head)
            if self.done:
                if self._buffer:
                    raise MalformedReply("bytes after the reply")
                return True
        if self._chunked:
            return self._read_chunks()
        if len(self._buffer) > MAX_BODY_BYTES:
            raise MalformedReply("reply body too long")
        if self._length is not None and len(self._buffer) >= self._length:
            if len(self._buffer) > self._length:
                raise MalformedReply("bytes after the reply")
            return self._finish(bytes(self._buffer))
        return False

    def eof(self) -> bool:
        """The peer closed: True if that completed the reply."""
        if self.done:
            return True
        if self._head_read and self._until_close:
            self.keep_alive = False
            return self._finish(bytes(self._buffer))
        raise MalformedReply("connection closed before the reply was complete")

    def _read_head(self, head: bytes) -> None:
        self.status, self.keep_alive, self._length, self._chunked, self._until_close = _head_of(
            head
        )
        self._head_read = True
        if self._length is None and not self._chunked and not self._until_close:
            self._finish(b"")  # 204, 304: no body

    def _read_chunks(self) -> bool:
        while True:
            if self._trailer:  # trailer lines until an empty one
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return False
                line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
                if not line:
                    if self._buffer:
                        raise MalformedReply("bytes after the reply")
                    return self._finish(b"".join(self._chunks))
                continue
            if self._chunk_left < 0:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    if len(self._buffer) > 1024:
                        raise MalformedReply("bad chunk size line")
                    return False
                size = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
                if not size or len(size) > 8 or not re.fullmatch(rb"[0-9A-Fa-f]+", size):
                    raise MalformedReply(f"bad chunk size {size[:20]!r}")
                self._buffer = self._buffer[end + 2 :]
                self._chunk_left = int(size, 16)
                if self._chunk_left == 0:
                    self._trailer = True
                    continue
                if sum(map(len, self._chunks)) + self._chunk_left > MAX_BODY_BYTES:
                    raise MalformedReply("reply body too long")
            if len(self._buffer) < self._chunk_left + 2:
                return False
            chunk_end = self._chunk_left
            if self._buffer[chunk_end : chunk_end + 2] != b"\r\n":
                raise MalformedReply("chunk not followed by CRLF")
            self._chunks.append(bytes(self._buffer[:chunk_end]))
            self._buffer = self._buffer[chunk_end + 2 :]
            self._chunk_left = -1

    def _finish(self, body: bytes) -> bool:
        self.body, self.done = body, True
        return True


@functools.lru_cache(maxsize=256)
def _head_of(head: bytes) -> tuple[int, bool, int | None, bool, bool]:
    """(status, keep-alive, Content-Length, chunked, body until the close) of a reply head;
    MalformedReply unless this client can read it. Cached: a relay's heads differ only by
    their Date and Content-Length, and this was a third of the reply's parsing."""
    status_line, _, rest = head.partition(b"\r\n")
    match = _STATUS_RE.fullmatch(status_line)
    if match is None:
        raise MalformedReply(f"not an HTTP status line: {status_line[:40]!r}")
    minor, status = match.group(1), int(match.group(2))
    if 100 <= status < 200:
        raise MalformedReply(f"unexpected interim reply {status}")
    keep_alive, chunked = minor == b"1", False
    lengths: set[bytes] = set()
    block = rest + b"\r\n" if rest else b""
    if not _HEADERS_RE.fullmatch(block):
        bad = next(ln for ln in block.split(b"\r\n") if not _HEADERS_RE.fullmatch(ln + b"\r\n"))
        raise MalformedReply(f"bad header line {bad[:40]!r}")
    # every line checked at once above; the values this client reads compare lowercased
    for name, value in _HEADER_RE.findall(block.lower()):
        value = value.strip()
        if name == b"content-length":
            lengths.add(value)
        elif name == b"transfer-encoding":
            if value != b"chunked":
                raise MalformedReply(f"unsupported transfer-encoding {value[:20]!r}")
            chunked = True
        elif name == b"connection":
            tokens = {t.strip() for t in value.split(b",")}
            if b"close" in tokens:
                keep_alive = False
            elif b"keep-alive" in tokens:
                keep_alive = True
    if chunked:
        if lengths:
            raise MalformedReply("both Content-Length and chunked")
        return status, keep_alive, None, True, False
    if lengths:
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise MalformedReply("bad Content-Length")
        length = int(next(iter(lengths)))
        if length > MAX_BODY_BYTES:
            raise MalformedReply("reply body too long")
        return status, keep_alive, length, False, False
    if status in (204, 304):
        return status, keep_alive, None, False, False
    return status, False, None, False, True
