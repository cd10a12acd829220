"""Hostile input to the dashboard API (issue #12, findings 4, 6, 9 and 11): the energy proxy
only ever reads one documented rainforest route; no input reaches a 500; oversize headers
are 431 without echo; no secret reaches a log line; the document lists every answer."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.dashboard_api.routes import ROUTES, openapi_document
from shared.logging import configure_logging
from shared.settings import CoreSettings
from tests.clock import iso_z
from tests.dashboard_api.conftest import T0, dashboard_settings, login, serve
from tests.edge import raw_request


class Upstream:
    """A stand-in rainforest API that records what it is asked and answers per cloud id."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.raw_path))
        cloud_id = request.raw_path.rsplit("/", 1)[-1]
        if cloud_id == "000b0b":
            return web.Response(status=302, headers={"Location": "/api/users"})
        if cloud_id == "0000aa":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if cloud_id == "0000ab":
            return web.json_response([1, 2, 3])
        if cloud_id == "0000ac":
            return web.Response(text="[" * 5000 + "]" * 5000, content_type="application/json")
        return web.json_response({"cloud_id": cloud_id, "user_email": "u@example.org"})


@pytest_asyncio.fixture
async def proxied(seeded: CoreSettings) -> AsyncIterator[tuple[TestClient, Upstream]]:
    upstream = Upstream()
    server = TestServer(upstream.app, host="127.0.0.1")
    await server.start_server()
    settings = dashboard_settings(
        rainforest_url=f"http://127.0.0.1:{server.port}", rainforest_token="rf-token"
    )
    client = await serve(seeded, settings)
    yield client, upstream
    await client.close()
    await server.close()


BAD_CLOUD_IDS = ("..%2Fusers", "..%2Fevent%2F000000", "000123%3Fx=1", "000123%23frag",
                 "0%2F..%2F..", "00ab%0A")  # fmt: skip


async def test_energy_proxy_never_leaves_its_route(proxied: tuple[TestClient, Upstream]) -> None:
    """Finding 4: ``/api/energy/..%2Fusers`` returned the whole rainforest user list."""
    client, upstream = proxied
    headers = await login(client, "admin")
    for cloud_id in BAD_CLOUD_IDS:
        resp = await client.get(f"/api/energy/{cloud_id}", headers=headers)
        assert resp.status == 400, cloud_id  # its pattern, or the edge for a control character
        assert (await resp.json())["error"]["field"] in ("cloud_id", "path"), cloud_id
    assert upstream.requests == []


async def test_energy_proxy_reads_only_the_user_route(
    proxied: tuple[TestClient, Upstream],
) -> None:
    client, upstream = proxied
    headers = await login(client, "admin")
    resp = await client.get("/api/energy/000abc", headers=headers)
    assert resp.status == 200 and (await resp.json())["user"]["cloud_id"] == "000abc"
    assert upstream.requests == [("GET", "/api/user/000abc")]
    # a redirect is not followed; garbage is a 502, never a 500
    for cloud_id in ("000b0b", "0000aa", "0000ab", "0000ac"):
        resp = await client.get(f"/api/energy/{cloud_id}", headers=headers)
        assert resp.status == 502, (cloud_id, await resp.text())
        assert (await resp.json())["error"]["code"] == "upstream"
    assert [path for _, path in upstream.requests] == [
        "/api/user/000abc",
        "/api/user/000b0b",
        "/api/user/0000aa",
        "/api/user/0000ab",
        "/api/user/0000ac",
    ]


def _every_route() -> list[tuple[str, str]]:
    """A request line for every route, parameters filled in."""
    fill = {"{campaign_id}": "10", "{fbid}": "7000", "{site}": "www.example.org",
            "{cloud_id}": "000123"}  # fmt: skip
    routes = []
    for spec in ROUTES:
        path = spec.path
        for name, value in fill.items():
            path = path.replace(name, value)
        routes.append((spec.method, path))
    return routes + [("GET", "/api/openapi.json")]


async def test_undecodable_credentials_are_400_everywhere(client: TestClient) -> None:
    """Finding 6: invalid UTF-8 in Authorization or Cookie was a 500 on every route."""
    for method, path in _every_route():
        for header in (b"Authorization: Bearer \xff\xfe", b"Cookie: forklift_session=\xc3("):
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + header + b"\r\n"
            answer = await raw_request(client.port, head)
            assert answer.status == 400, (method, path, header, answer.body)
            assert answer.json()["error"]["code"] == "bad_request"


PROBES = (
    (f"/api/campaigns?start=0001-01-01T00:00:00%2B01:00&end={iso_z(T0)}", "end"),
    ("/api/campaigns?start=0001-01-01T00:00:00%2B01:00&end=0001-01-02T00:00:00Z", None),
    ("/api/internal/events?since=0001-01-01T00:00:00%2B01:00", None),
    ("/api/internal/events?since=0.5", "since"),
    ("/api/internal/events?since=2026-01-01T00:00:00", "since"),  # no offset: ambiguous
    ("/api/web/www.example.org/daily?start=0001-01-01T00:00:00%2B01:00&end=0001-01-02", None),
    (f"/api/campaigns/{'9' * 5000}/series?start=2020-01-01&end=2020-01-02", "campaign_id"),
    (f"/api/edgeplorer/{'9' * 4300}", "fbid"),
    ("/api/edgeplorer/%D9%A3", "fbid"),  # an Arabic-Indic digit is not an id
    ("/api/web/www%00.example.org/daily?start=2020-01-01&end=2020-01-02", "path"),
    ("/api/web/a%2Fb/daily?start=2020-01-01&end=2020-01-02", "site"),
    ("/api/campaigns?start=2020-01-01&end=2020-01-02&client_id=" + "9" * 5000, "client_id"),
    ("/api/campaigns?start=2020-01-01&end=2020-01-02&client_id=1.0", "client_id"),
    ("/api/campaigns?start=2020-01-01%00&end=2020-01-02", "start"),
    ("/api/campaigns?start=%FF&end=2020-01-02", "query"),
)


async def test_no_input_reaches_a_500(client: TestClient) -> None:
    """Finding 6 (timezone overflow, 4,300-digit path integers, NUL) and 11 (``since=0.5``
    accepted as a date-time)."""
    headers = await login(client, "admin")
    for path, field in PROBES:
        resp = await client.get(path, headers=headers)
        body = await resp.json()
        if field is None:
            assert resp.status == 200, (path, body)
        else:
            assert resp.status == 400 and body["error"]["field"] == field, (path, body)


HOSTILE_BODIES = (
    '{"username": "ac\\u0000me", "password": "x"}',
    '{"username": "acme", "password": "\\ud800"}',
    '{"username": "acme", "password": "x", "password": "y"}',
    '{"username": "acme", "password": "x", "n": ' + "9" * 5000 + "}",
    '{"username": "acme", "password": "x", "n": 1e999}',
    '{"username": "acme", "password": "x", "n": NaN}',
    "[" * 5000 + "]" * 5000,
    '{"username": "acme", "password": "x", "n": ' + "[" * 40 + "]" * 40 + "}",
    b'{"username": "\xff", "password": "x"}',
)


async def test_hostile_login_bodies_are_400(client: TestClient) -> None:
    """Finding 6: a NUL in the username was a 500; deep nesting and huge numbers too."""
    for body in HOSTILE_BODIES:
        resp = await client.post(
            "/api/login", data=body, headers={"Content-Type": "application/json"}
        )
        assert resp.status == 400, (body[:80], await resp.text())
        assert (await resp.json())["error"]["code"] == "bad_request"


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Logs as production writes them (JSON, redaction on, DEBUG), captured; the logging
    set-up of the run is restored afterwards."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", "DEBUG")
    yield capsys
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


async def test_oversize_header_is_431_without_echo_and_secrets_stay_out_of_logs(
    client: TestClient, json_logs: pytest.CaptureFixture[str]
) -> None:
    """Finding 9: an over-long header had its first ~100 bytes echoed and logged."""
    secret = "Sup3rSecretToken" * 600
    answer = await raw_request(
        client.port,
        f"GET /api/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n".encode(),
    )
    assert answer.status == 431 and answer.json()["error"]["code"] == "headers_too_large"
    assert b"Sup3r" not in answer.body
    long_url = await raw_request(
        client.port, f"GET /api/{'a' * 9000} HTTP/1.1\r\nHost: x\r\n".encode()
    )
    assert long_url.status == 414 and b"aaaa" not in long_url.body
    many = "".join(f"X-H{i}: v\r\n" for i in range(200))
    too_many = await raw_request(
        client.port, f"GET /api/health HTTP/1.1\r\nHost: x\r\n{many}".encode()
    )
    assert too_many.status == 431
    nul = await raw_request(
        client.port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-A: Sup3r\x00\r\n"
    )
    assert nul.status == 400 and b"Sup3r" not in nul.body
    resp = await client.post("/api/login", json={"username": "acme", "password": "acme-pw"})
    token = (await resp.json())["token"]
    await client.get("/api/clients", headers={"Authorization": f"Bearer {token}"})
    await client.post("/api/login", json={"username": "acme", "password": "Wr0ng-Pa55-xyz"})
    logged = json_logs.readouterr()
    lines = (logged.out + logged.err).splitlines()
    assert any("dashboard.login.failed" in line for line in lines)
    for line in lines:
        assert "Sup3r" not in line and "Pa55" not in line and "acme-pw" not in line, line
        assert token not in line, line


def test_document_lists_every_answer_the_api_gives() -> None:
    """Finding 11: 401/404/413/429/502 were answered but not documented."""
    paths = openapi_document()["paths"]
    login_answers = set(paths["/api/login"]["post"]["responses"])
    assert {"200", "400", "401", "413", "415", "429", "431"} <= login_answers
    retry_after = paths["/api/login"]["post"]["responses"]["429"]["headers"]["Retry-After"]
    assert retry_after["required"] is True
    assert {"401", "403", "404", "502"} <= set(paths["/api/energy/{cloud_id}"]["get"]["responses"])
    assert {"400", "401", "404"} <= set(
        paths["/api/campaigns/{campaign_id}/series"]["get"]["responses"]
    )
    since = next(
        p for p in paths["/api/internal/events"]["get"]["parameters"] if p["name"] == "since"
    )
    assert json.dumps(since["schema"]).count("date") == 2  # date-time or date, nothing else
