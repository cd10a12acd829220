"""A fault-injecting HTTP proxy in front of moto (moto never throttles).

It answers a share of DynamoDB requests with the real ProvisionedThroughputExceededException
response (HTTP 400) and forwards the rest, recording when each forwarded read happened and
the RCU its response items cost (computed here, independently of the pump's own accounting).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from services.dynamo_pump.convert import item_size_bytes, read_units

THROTTLE_BODY = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API.",
}


@dataclass
class FaultProxy:
    upstream: str
    throttle_share: float = 0.0
    throttled: int = 0
    reads: list[tuple[float, float]] = field(default_factory=list)  # (monotonic s, rcu)
    url: str = ""
    seen: int = 0  # reads asked for, throttled or not

    def _throttle_next(self) -> bool:
        """Throttle exactly ``throttle_share`` of the reads so far, spread evenly (a random
        draw made whole test runs see no throttle at all, now and then)."""
        self.seen += 1
        return self.throttled < int(self.seen * self.throttle_share + 0.5)

    def rcu_between(self, start_s: float, end_s: float) -> float:
        return sum(rcu for t, rcu in self.reads if start_s <= t < end_s)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        is_read = target.endswith((".BatchGetItem", ".Query"))
        if is_read and self._throttle_next():
            self.throttled += 1
            return web.Response(
                status=400,
                body=json.dumps(THROTTLE_BODY).encode(),
                content_type="application/x-amz-json-1.0",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with request.app["session"].post(
            self.upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type", "application/x-amz-json-1.0")
        if is_read and status == 200:
            self.reads.append((time.monotonic(), _rcu(json.loads(payload))))
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type})


def _rcu(response: dict) -> float:
    if "Items" in response:  # Query: the page's summed size, rounded up once
        return read_units(sum(item_size_bytes(i) for i in response["Items"]))
    items = [i for table in response.get("Responses", {}).values() for i in table]
    return sum(read_units(item_size_bytes(i)) for i in items)


@asynccontextmanager
async def fault_proxy(upstream: str, throttle_share: float = 0.0) -> AsyncIterator[FaultProxy]:
    """Run a :class:`FaultProxy` on a free local port for the duration of the block."""
    proxy = FaultProxy(upstream, throttle_share)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        app["session"] = session
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        proxy.url = f"http://127.0.0.1:{port}"
        try:
            yield proxy
        finally:
            await runner.cleanup()
