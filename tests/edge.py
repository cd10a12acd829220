"""Test helpers for the HTTP edge (shared.webapi): a TestServer serving through EdgeRunner
(as ``forklift serve`` does) and raw HTTP/1.1 requests carrying bytes no client library
would send (invalid UTF-8, NUL, oversize headers)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from shared.webapi import EdgeRunner

__all__ = ["EdgeTestServer", "RawAnswer", "raw_request"]


class EdgeTestServer(TestServer):
    """``TestServer`` with the production runner: parser errors answered by the edge."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return EdgeRunner(self.app, **kwargs)


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_request(port: int, head: bytes, body: bytes = b"") -> RawAnswer:
    """Send ``head`` (request line and headers, without the blank line) and ``body`` to
    127.0.0.1:``port``; the answer (the connection is closed after it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        length = f"Content-Length: {len(body)}\r\n".encode() if body else b""
        writer.write(head + b"\r\n" + length + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), headers, payload)
