"""The relay client's HTTP/1.1 framing (pure logic): requests and incremental reply parsing."""

import pytest

from services.rainforest.http1 import MAX_BODY_BYTES, MalformedReply, ReplyParser, request_bytes


def parse(*parts: bytes, eof: bool = False) -> ReplyParser:
    parser = ReplyParser()
    done = False
    for part in parts:
        done = parser.feed(part)
    if eof:
        done = parser.eof()
    assert done
    return parser


def test_request_has_host_length_and_headers_and_refuses_header_injection() -> None:
    data = request_bytes(
        "POST", "/cgi-bin/post_manager", "relay:9445", {"User": "a@b.org"}, b"<x/>"
    )
    assert data == (
        b"POST /cgi-bin/post_manager HTTP/1.1\r\nHost: relay:9445\r\nContent-Length: 4\r\n"
        b"User: a@b.org\r\n\r\n<x/>"
    )
    with pytest.raises(ValueError, match="Password"):
        request_bytes("POST", "/", "h", {"Password": "x\r\nEvil: 1"}, b"")
    with pytest.raises(ValueError):
        request_bytes("POST", "/", "h", {"Bad Name": "x"}, b"")


def test_content_length_reply_in_pieces_keeps_the_connection() -> None:
    parser = ReplyParser()
    assert not parser.feed(b"HTTP/1.1 200 OK\r\nContent-Le")
    assert not parser.feed(b"ngth: 5\r\nContent-Type: text/xml\r\n\r\nab")
    assert parser.feed(b"cde")
    assert (parser.status, parser.body, parser.keep_alive) == (200, b"abcde", True)


def test_chunked_reply_with_extension_and_trailer() -> None:
    parser = parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n",
        b"2\r\nde\r\n0\r\nX-Trailer: 1\r\n",
        b"\r\n",
    )
    assert parser.body == b"abcde" and parser.keep_alive


def test_replies_that_end_the_connection() -> None:
    closed = parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    assert closed.body == b"ok" and not closed.keep_alive
    old = parse(b"HTTP/1.0 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
    assert old.status == 401 and not old.keep_alive
    kept = parse(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert kept.keep_alive
    until_close = parse(b"HTTP/1.1 200 OK\r\n\r\nsome", b" body", eof=True)
    assert until_close.body == b"some body" and not until_close.keep_alive
    assert parse(b"HTTP/1.1 204 No Content\r\n\r\n").body == b""


@pytest.mark.parametrize(
    "reply",
    [
        b"SSH-2.0-OpenSSH_9.0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nBad Name: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Split: a\nContent-Length: 0\r\n\r\n",  # a bare LF
        b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 40_000,
        f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode(),
    ],
)
def test_malformed_replies_are_refused(reply: bytes) -> None:
    with pytest.raises(MalformedReply):
        ReplyParser().feed(reply)


def test_a_connection_closed_mid_reply_is_malformed() -> None:
    parser = ReplyParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
    with pytest.raises(MalformedReply, match="closed"):
        parser.eof()


def test_a_head_seen_before_reads_the_same_and_a_bad_one_fails_every_time() -> None:
    """Heads are remembered once read: a repeat must frame its own body, and a refused head
    must be refused again (it is never remembered)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDate: Fri, 04 Dec 2026 01:00:00 GMT\r\n\r\n"
    for body in (b"abc", b"xyz"):
        parser = parse(head + body)
        assert (parser.status, parser.body, parser.keep_alive) == (200, body, True)
    closing = head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    assert not parse(closing + b"abc").keep_alive
    for _ in range(2):
        with pytest.raises(MalformedReply, match="Content-Length"):
            ReplyParser().feed(head.replace(b"3", b"x3"))
