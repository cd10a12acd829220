"""The relay client against the simulator and against servers that misbehave: keep-alive
reuse, a connection the server closed while idle, replies that close, hangs and garbage."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from services.rainforest.adapters import RELAY_COMMAND, relay_client
from services.rainforest.gate import Gate
from services.rainforest.http1 import MalformedReply
from services.rainforest.relay import RelayClient
from services.rainforest.simulator import device_credentials
from services.rainforest.wakeups import Wakeups

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def relay_request(relay: RelayClient, index: int) -> bytes:
    headers = dict(zip(("Cloud-ID", "User", "Password"), device_credentials(index), strict=True))
    return relay.request(headers, RELAY_COMMAND.encode())


@pytest_asyncio.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[tuple[str, list]]]]:
    """Starts a TCP server running ``handler`` per connection; yields (url, connections)."""
    servers = []

    async def start(handler: Handler) -> tuple[str, list]:
        connections: list = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.startswith(b"Content-Length")
    )
    return head + await reader.readexactly(length)


async def test_simulator_replies_over_kept_alive_connections(simulator: TestServer) -> None:
    relay = relay_client(f"http://127.0.0.1:{simulator.port}", 4)
    for index in range(6):
        status, body = await relay.post(relay_request(relay, index), 5.0)
        assert status == 200 and b"<InstantaneousDemand>" in body
    assert len(relay._idle) == 1  # one after another: one connection, reused
    assert not relay._deadlines  # a request answered is off the reaper's list
    relay.close()


async def test_a_connection_closed_while_idle_is_replaced_and_close_replies_not_kept(
    raw_server,
) -> None:
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()  # then closes: the client still holds it as idle

    url, connections = await raw_server(once_then_close)
    relay = RelayClient(url, 4)
    assert await relay.post(relay.request({}, b""), 5.0) == (200, b"ok")
    await asyncio.sleep(0.1)
    assert await relay.post(relay.request({}, b""), 5.0) == (200, b"ok")
    assert len(connections) == 2
    assert not relay._deadlines  # neither the failed send nor the resent one is left behind
    relay.close()


async def test_timeouts_garbage_and_a_close_before_any_reply(raw_server) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")
        await writer.drain()

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    url, _ = await raw_server(hang)
    relay = RelayClient(url, 4)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(relay.post(relay.request({}, b""), 0.3), 10)
    assert not relay._idle and not relay._deadlines  # the timed-out connection is closed
    for handler, error in ((garbage, MalformedReply), (slam, ConnectionError)):
        url, _ = await raw_server(handler)
        relay = RelayClient(url, 4)
        with pytest.raises(error):
            await relay.post(relay.request({}, b""), 5.0)
        assert not relay._idle
    url, _ = await raw_server(chunked)
    relay = RelayClient(url, 4)
    assert await relay.post(relay.request({}, b""), 5.0) == (500, b"no")
    assert len(relay._idle) == 1
    relay.close()


def test_relay_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        RelayClient("ftp://relay/x", 1)
    relay = RelayClient("https://relay.example:9445/cgi-bin/post_manager?a=1", 1)
    assert (relay.host, relay.port, relay.target, relay.host_header) == (
        "relay.example", 9445, "/cgi-bin/post_manager?a=1", "relay.example:9445",
    )  # fmt: skip
    assert RelayClient("http://[::1]/", 1).host_header == "[::1]"


async def test_wakeups_in_time_order_never_early_and_cancelled_waits_dropped() -> None:
    loop = asyncio.get_running_loop()
    wakeups, woken = Wakeups(0.01), []
    start = loop.time()

    async def sleeper(name: str, delay: float) -> None:
        await wakeups.at(start + delay)
        woken.append((name, loop.time() >= start + delay))

    tasks = [asyncio.create_task(sleeper(n, d)) for n, d in (("c", 0.15), ("a", 0.0), ("b", 0.05))]
    cancelled = asyncio.create_task(sleeper("x", 0.1))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(*tasks)
    assert woken == [("a", True), ("b", True), ("c", True)]
    await asyncio.sleep(0.05)
    assert len(wakeups) == 0 and wakeups._task is not None and wakeups._task.done()
    wakeups.close()  # the ticker stopped when nobody waited any more


async def test_wakeups_an_earlier_wait_added_while_the_ticker_waits_for_a_later_one_is_on_time() -> (
    None
):
    loop = asyncio.get_running_loop()
    wakeups, woken = Wakeups(0.02), {}
    start = loop.time()

    async def sleeper(name: str, delay: float) -> None:
        await wakeups.at(start + delay)
        woken[name] = loop.time() - start

    far = asyncio.create_task(sleeper("far", 0.5))
    await asyncio.sleep(0.05)  # the ticker waits for the far slot only
    near = [asyncio.create_task(sleeper(f"near{i}", 0.1 + i / 10_000)) for i in range(20)]
    await asyncio.gather(*near)
    times = [(woken[f"near{i}"], 0.1 + i / 10_000) for i in range(20)]
    # never early, and not held back to the far wait's slot at 0.5 s (a tick plus the loop's
    # lateness, which on a loaded CI machine can reach tens of ms)
    assert all(due <= at < due + 0.2 for at, due in times)
    await far
    assert woken["far"] >= 0.5
    wakeups.close()


async def test_gate_bounds_holders_first_come_first_served_and_a_cancelled_wait_frees_nothing() -> (
    None
):
    gate, order, release = Gate(2), [], asyncio.Event()
    peak = 0

    async def holder(name: str) -> None:
        nonlocal peak
        if not gate.enter_now():
            await gate.enter()
        try:
            peak = max(peak, gate.taken)
            order.append(name)
            await release.wait()
        finally:
            gate.leave()

    tasks = [asyncio.create_task(holder(n)) for n in "abcde"]
    await asyncio.sleep(0)
    assert order == ["a", "b"]  # the gate is full: c, d and e wait
    tasks[2].cancel()  # c gives up its wait
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["a", "b", "d", "e"] and peak == 2
    assert gate.taken == 0 and gate.enter_now()  # every place came back, none leaked
