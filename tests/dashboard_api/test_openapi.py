"""The OpenAPI document validates, is served, and a schemathesis run over it finds no 5xx."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from services.dashboard_api.api import create_app
from services.dashboard_api.routes import ROUTES, openapi_document
from services.main import cli
from shared.cli import run_cli
from shared.settings import CoreSettings
from tests.dashboard_api.conftest import (
    dashboard_settings,
    seed_auth,
    seed_warehouse,
)
from tests.dashboard_api.rainforest_app import RAINFOREST_TOKEN, start_rainforest


def test_document_validates_and_lists_every_route() -> None:
    document = openapi_document()
    validate(document)
    assert {(p, m.upper()) for p, ops in document["paths"].items() for m in ops} == {
        (r.path, r.method) for r in ROUTES
    }


def test_cli_prints_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli, ["dashboard", "openapi"]) == 0
    assert json.loads(capsys.readouterr().out) == openapi_document()


def test_cli_hash_password(capsys: pytest.CaptureFixture[str]) -> None:
    from services.dashboard_api.passwords import verify_django_hash

    assert (
        run_cli(cli, ["dashboard", "hash-password", "--password", "pw", "--iterations", "10"]) == 0
    )
    assert verify_django_hash("pw", capsys.readouterr().out.strip(), max_iterations=10)


def test_serve_needs_a_session_secret(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FORKLIFT_DASHBOARD_SESSION_SECRET", raising=False)
    monkeypatch.chdir("/tmp")  # no .env
    assert run_cli(cli, ["serve", "dashboard_api", "--port", "0"]) == 2
    assert "FORKLIFT_DASHBOARD_SESSION_SECRET" in capsys.readouterr().err


class ServerThread:
    """The app served from its own thread and event loop (schemathesis calls are blocking)."""

    def __init__(self, core: CoreSettings, tmp: Path) -> None:
        self.core = core
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""

    async def _start(self) -> web.AppRunner:
        self.rainforest, url = await start_rainforest(self.core, self.tmp)
        settings = dashboard_settings(rainforest_url=url, rainforest_token=RAINFOREST_TOKEN)
        runner = web.AppRunner(await create_app(self.core, settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.run_until_complete(self.rainforest.cleanup())
        self.loop.close()


@pytest.fixture
def live_url(core: CoreSettings, tmp_path: Path) -> Iterator[str]:
    import asyncpg

    async def seed() -> None:
        source = await asyncpg.create_pool(core.source_dsn, min_size=1, max_size=2)
        warehouse = await asyncpg.create_pool(core.warehouse_dsn, min_size=1, max_size=2)
        await seed_auth(source)
        await seed_warehouse(warehouse)
        await source.close()
        await warehouse.close()

    asyncio.run(seed())
    server = ServerThread(core, tmp_path)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert server.ready.wait(30)
    yield server.url
    server.loop.call_soon_threadsafe(server.loop.stop)
    thread.join(30)


def test_schemathesis_finds_no_server_error(live_url: str) -> None:
    import requests

    login = {"username": "admin", "password": "admin-pw"}
    resp = requests.post(f"{live_url}/api/login", json=login, timeout=10)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    token = resp.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_dict(openapi_document())
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/logout":
            continue  # would revoke the session the other operations use

        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            nonlocal calls
            response = case.call(base_url=live_url, headers=headers, timeout=10)
            calls += 1
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            assert response.headers["content-type"][0].startswith("application/json"), (
                response.status_code,
                case.formatted_path,
                response.text,
            )

        check()
    assert calls >= 50
