"""Hostile input to the rainforest API (issue #12, findings 6-9): validation by whole-match,
gateway hosts only inside the allow-list (names resolved and checked too), one text for every
way a gateway can fail, no 500 from headers, bodies or gateway replies."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.rainforest import api
from services.rainforest.adapters import GATEWAY_UNREACHABLE, resolve_gateway
from services.rainforest.errors import HostNotAllowed
from services.rainforest.hosts import DEFAULT_GATEWAY_NETWORKS, address_allowed
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import device_credentials
from shared.embedded import free_port
from shared.logging import configure_logging
from shared.networks import parse_networks
from shared.settings import CoreSettings
from tests.edge import EdgeTestServer, raw_request
from tests.rainforest.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEFAULTS = parse_networks(DEFAULT_GATEWAY_NETWORKS)


def eagle_body(host: str, index: int = 4) -> dict:
    _, user, secret = device_credentials(index)
    return {"user_email": user, "user_pw": secret, "adapter": "eagle200", "host": host}


@pytest.mark.parametrize(
    ("address", "networks", "allowed"),
    [
        ("192.168.1.20", DEFAULT_GATEWAY_NETWORKS, True),
        ("10.1.2.3", DEFAULT_GATEWAY_NETWORKS, True),
        ("fd12::5", DEFAULT_GATEWAY_NETWORKS, True),
        ("8.8.8.8", DEFAULT_GATEWAY_NETWORKS, False),
        ("127.0.0.1", DEFAULT_GATEWAY_NETWORKS, False),
        ("169.254.169.254", DEFAULT_GATEWAY_NETWORKS, False),
        ("fd00:ec2::254", DEFAULT_GATEWAY_NETWORKS, False),  # inside fc00::/7, still refused
        ("::ffff:127.0.0.1", "0.0.0.0/0,::/0", False),
        ("127.0.0.1", "0.0.0.0/0", False),  # "everything" is not loopback
        ("0.0.0.0", "0.0.0.0/0", False),
        ("169.254.10.1", "0.0.0.0/0", False),
        ("8.8.8.8", "0.0.0.0/0", True),
        ("127.0.0.1", "127.0.0.1/32", True),  # named explicitly
        ("127.0.0.2", "127.0.0.1/32", False),
        ("169.254.169.254", "169.254.0.0/16", False),  # link-local named, metadata not
        ("169.254.10.1", "169.254.0.0/16", True),
        ("169.254.169.254", "169.254.169.254/32", True),
    ],
)
def test_address_allow_list(address: str, networks: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), parse_networks(networks)) is allowed


async def test_names_are_resolved_and_checked() -> None:
    with pytest.raises(HostNotAllowed):
        await resolve_gateway("localhost:8080", DEFAULTS)  # resolves to loopback
    loopback = parse_networks("127.0.0.1/32,::1/128")
    assert await resolve_gateway("localhost:8080", loopback) in ("127.0.0.1:8080", "[::1]:8080")
    assert await resolve_gateway("192.168.1.20", DEFAULTS) == "192.168.1.20"


VALIDATION_CASES = (
    ("/api/user/00ab%0A", None, "path"),  # was a second user "00ab\n"
    ("/api/user/00ab%0A%0A", None, "path"),
    ("/api/user/00ab%20", None, "cloud_id"),
    ("/api/user/000001", {"user_email": "a@b.org\n"}, "user_email"),
    ("/api/user/000001", {"user_email": "a b@c.org"}, "user_email"),
    ("/api/user/000001", {"user_pw": "pw\r\nX-Injected: 1"}, "user_pw"),
    ("/api/user/000001", eagle_body("evil.org\n"), "host"),
    ("/api/user/000001", eagle_body("192.168.1.20:99999"), "host"),
    ("/api/user/000001", eagle_body("192.168.1.20:0"), "host"),
    ("/api/user/000001", eagle_body("-bad-.example"), "host"),
    ("/api/user/000001", eagle_body("user@192.168.1.20"), "host"),
)


async def test_validation_matches_whole_values(client: TestClient) -> None:
    """Finding 7: ``$`` let a trailing newline through; port 99999 passed."""
    for path, body, field in VALIDATION_CASES:
        cloud_body = {"user_email": "u@example.org", "user_pw": "pw", **(body or {})}
        resp = await client.post(path, json=cloud_body, headers=AUTH)
        assert resp.status == 400, (path, body, await resp.text())
        assert (await resp.json())["error"]["field"] == field, (path, body)
    listing = await (await client.get("/api/users", headers=AUTH)).json()
    assert listing["count"] == 0


@pytest.fixture
def default_networks(settings: RainforestSettings) -> RainforestSettings:
    return settings.model_copy(update={"gateway_networks": DEFAULT_GATEWAY_NETWORKS})


async def test_gateway_addresses_outside_the_allow_list_are_refused(
    core: CoreSettings, default_networks: RainforestSettings
) -> None:
    """Finding 8: a gateway ``host`` could be the metadata service or this machine's Redis.
    An IP address is refused when the user is saved (403), a name when it is resolved."""
    app = await api.create_app(core, default_networks, background=False)
    async with TestClient(EdgeTestServer(app, host="127.0.0.1")) as client:
        for host in ("169.254.169.254", "127.0.0.1:6379", "0.0.0.0:80", "8.8.8.8"):
            resp = await client.post("/api/user/000004", json=eagle_body(host), headers=AUTH)
            assert resp.status == 403, (host, await resp.text())
            assert (await resp.json())["error"]["field"] == "host"
        for name in ("127.1:6379", "localhost"):  # names (127.1 is inet_aton's 127.0.0.1)
            resp = await client.post("/api/user/000004", json=eagle_body(name), headers=AUTH)
            assert resp.status == 200, (name, await resp.text())
            resp = await client.get("/api/event/000004", headers=AUTH)
            assert resp.status == 502
            assert (await resp.json())["error"]["message"].endswith(GATEWAY_UNREACHABLE)


async def test_a_name_resolving_to_loopback_is_never_connected(
    core: CoreSettings, default_networks: RainforestSettings
) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    port = free_port()
    listener = await asyncio.start_server(count, "127.0.0.1", port)
    try:
        app = await api.create_app(core, default_networks, background=False)
        async with TestClient(EdgeTestServer(app, host="127.0.0.1")) as client:
            body = eagle_body(f"localhost:{port}")
            assert (await client.post("/api/user/000004", json=body, headers=AUTH)).status == 200
            resp = await client.get("/api/event/000004", headers=AUTH)
            assert resp.status == 502
            assert GATEWAY_UNREACHABLE in (await resp.json())["error"]["message"]
    finally:
        listener.close()
        await listener.wait_closed()
    assert connections == 0


async def test_a_gateway_redirect_is_not_followed(client: TestClient) -> None:
    """An allowed gateway cannot forward the poller to an address the list never checked."""
    hits = 0

    async def target(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(text="<DeviceList></DeviceList>")

    elsewhere = await _gateway_answering(target)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{elsewhere.port}/latest/meta-data/")

    gateway = await _gateway_answering(redirect)
    try:
        body = eagle_body(f"127.0.0.1:{gateway.port}")
        assert (await client.post("/api/user/000004", json=body, headers=AUTH)).status == 200
        resp = await client.get("/api/event/000004", headers=AUTH)
        assert resp.status == 502 and GATEWAY_UNREACHABLE in await resp.text()
    finally:
        await gateway.close()
        await elsewhere.close()
    assert hits == 0


async def _gateway_answering(handler) -> TestServer:  # noqa: ANN001 - an aiohttp handler
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_every_gateway_failure_reads_the_same(client: TestClient, core: CoreSettings) -> None:
    """Finding 8: the error text told a closed port, Redis and an HTTP server apart; finding 6:
    a reply that is not XML was a 500 (ExpatError)."""

    async def not_xml(request: web.Request) -> web.Response:
        return web.Response(text="hello, not xml")

    async def html_404(request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html>nope</html>", content_type="text/html")

    async def wrong_xml(request: web.Request) -> web.Response:
        return web.Response(text="<DeviceList><Device>1</Device></DeviceList>")

    servers = [await _gateway_answering(h) for h in (not_xml, html_404, wrong_xml)]
    redis_port = urlsplit(core.redis_url).port
    hosts = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{redis_port}"] + [
        f"127.0.0.1:{s.port}" for s in servers
    ]
    try:
        messages = set()
        for index, host in enumerate(hosts):
            cloud_id = f"{index + 1:06d}"
            resp = await client.post(f"/api/user/{cloud_id}", json=eagle_body(host), headers=AUTH)
            assert resp.status == 200, await resp.text()
            resp = await client.get(f"/api/event/{cloud_id}", headers=AUTH)
            assert resp.status == 502, (host, await resp.text())
            messages.add((await resp.json())["error"]["message"])
            user = await (await client.get(f"/api/user/{cloud_id}", headers=AUTH)).json()
            assert user["status"] == "pending"  # an API poll does not touch the poller's state
        assert messages == {f"gateway error: {GATEWAY_UNREACHABLE}"}
    finally:
        for server in servers:
            await server.close()


ROUTES = (
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/users"),
    ("GET", "/api/user/000001"),
    ("POST", "/api/user/000001"),
    ("DELETE", "/api/user/000001"),
    ("GET", "/api/event/000001"),
)


async def test_undecodable_headers_are_400_everywhere(client: TestClient) -> None:
    """Finding 6: invalid UTF-8 in Authorization or Cookie was a 500, /api/health included."""
    for method, path in ROUTES:
        for header in (b"Authorization: Bearer \xff\xfe", b"Cookie: a=\xc3("):
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + header + b"\r\n"
            answer = await raw_request(client.port, head)
            assert answer.status == 400, (method, path, header, answer.body)
            assert answer.json()["error"]["code"] == "bad_request"


HOSTILE_BODIES = (
    "[" * 5000 + "]" * 5000,
    '{"user_email": "a@b.org", "user_pw": "x", "active": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"user_email": "a@b.org", "user_pw": "x", "n": ' + "9" * 5000 + "}",
    '{"user_email": "a@b.org", "user_pw": "x", "n": 1' + "0" * 400 + ".5}",
    '{"user_email": "a@b.org", "user_pw": "\\udc80"}',
    '{"user_email": "a@b.org", "user_email": "c@d.org", "user_pw": "x"}',
    b'{"user_email": "a@b.org", "user_pw": "\xff"}',
)


async def test_hostile_bodies_are_400(client: TestClient) -> None:
    """Finding 6: 5,000-deep nesting and 5,000-digit numbers were 500s."""
    headers = {**AUTH, "Content-Type": "application/json"}
    for body in HOSTILE_BODIES:
        resp = await client.post("/api/user/000001", data=body, headers=headers)
        assert resp.status == 400, (body[:80], await resp.text())
        assert (await resp.json())["error"]["field"] == "body"


async def test_answers_are_hardened(client: TestClient) -> None:
    """Finding 9 for this API: 405 with Allow, 415 for a non-JSON body, 431 without echo."""
    resp = await client.put("/api/user/000001", json={}, headers=AUTH)
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"
    assert {"GET", "POST", "DELETE"} <= {m.strip() for m in resp.headers["Allow"].split(",")}
    resp = await client.post(
        "/api/user/000001",
        data="user_email=a@b.org",
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    assert resp.status == 415 and (await resp.json())["error"]["field"] == "Content-Type"
    assert resp.headers["Cache-Control"] == "no-store"
    long_token = "T0ken" * 2000
    answer = await raw_request(
        client.port,
        f"GET /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {long_token}\r\n".encode(),
    )
    assert answer.status == 431 and b"T0ken" not in answer.body


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", "DEBUG")
    yield capsys
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


async def test_no_secret_in_any_log_line(
    client: TestClient, json_logs: pytest.CaptureFixture[str]
) -> None:
    body = {"user_email": "u@example.org", "user_pw": "G4teway-S3cret", "adapter": "cloud"}
    assert (await client.post("/api/user/000009", json=body, headers=AUTH)).status == 200
    assert (await client.get("/api/event/000009", headers=AUTH)).status == 502  # wrong secret
    await client.get("/api/users", headers={"Authorization": "Bearer Wr0ng-T0ken"})
    logged = json_logs.readouterr()
    lines = (logged.out + logged.err).splitlines()
    assert any("rainforest.request" in line for line in lines)
    for line in lines:
        assert "G4teway" not in line and TOKEN not in line and "Wr0ng" not in line, line
