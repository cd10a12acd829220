"""The OpenAPI document validates, is served, and schemathesis (every check) finds no 5xx and
no answer that disagrees with it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import requests
from aiohttp import web
from openapi_spec_validator import validate

from services.dashboard_api.api import create_app
from services.dashboard_api.routes import ROUTES, openapi_document
from services.main import cli
from shared.cli import run_cli
from shared.settings import CoreSettings
from tests.dashboard_api.conftest import dashboard_settings, seed_auth, seed_warehouse
from tests.dashboard_api.rainforest_app import RAINFOREST_TOKEN, USER, start_rainforest
from tests.fuzz import run_schemathesis, serve_in_thread


def test_document_validates_and_lists_every_route() -> None:
    document = openapi_document()
    validate(document)
    assert {(p, m.upper()) for p, ops in document["paths"].items() for m in ops} == {
        (r.path, r.method) for r in ROUTES
    } | {("/api/openapi.json", "GET")}


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


async def _seed(core: CoreSettings) -> None:
    source = await asyncpg.create_pool(core.source_dsn, min_size=1, max_size=2)
    warehouse = await asyncpg.create_pool(core.warehouse_dsn, min_size=1, max_size=2)
    await seed_auth(source)
    await seed_warehouse(warehouse)
    await source.close()
    await warehouse.close()


def _app_factory(core: CoreSettings, tmp: Path):  # noqa: ANN202 - an async factory
    async def make() -> web.Application:
        rainforest, url = await start_rainforest(core, tmp)
        async with aiohttp.ClientSession() as http:
            auth = {"Authorization": f"Bearer {RAINFOREST_TOKEN}"}
            async with http.post(f"{url}/api/user/000123", json=USER, headers=auth) as resp:
                assert resp.status == 200, await resp.text()
        settings = dashboard_settings(rainforest_url=url, rainforest_token=RAINFOREST_TOKEN)
        app = await create_app(core, settings)

        async def stop_rainforest(_: web.Application) -> None:
            await rainforest.cleanup()

        app.on_cleanup.append(stop_rainforest)
        return app

    return make


def _token(url: str) -> str:
    login = {"username": "admin", "password": "admin-pw"}
    resp = requests.post(f"{url}/api/login", json=login, timeout=10)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.json()["token"]


def test_schemathesis_finds_no_failure(core: CoreSettings, tmp_path: Path) -> None:
    """Every operation (logout in a run of its own: it revokes the token it is given)."""
    asyncio.run(_seed(core))
    with serve_in_thread(_app_factory(core, tmp_path)) as url:
        schema = f"{url}/api/openapi.json"
        hooks = "tests.dashboard_api.fuzz_hooks"
        main = run_schemathesis(
            schema,
            tmp_path,
            headers={"Authorization": f"Bearer {_token(url)}"},
            hooks=hooks,
            extra=("--exclude-operation-id", "logout"),
        )
        assert main.returncode == 0, main.stdout[-20000:] + main.stderr[-5000:]
        assert "No issues found" in main.stdout or "passed" in main.stdout, main.stdout
        logout = run_schemathesis(
            schema,
            tmp_path,
            headers={"Authorization": f"Bearer {_token(url)}"},
            hooks=hooks,
            extra=("--include-operation-id", "logout"),
        )
        assert logout.returncode == 0, logout.stdout[-20000:] + logout.stderr[-5000:]
