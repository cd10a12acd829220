"""The rainforest API's OpenAPI document: valid, served, printed by the CLI, and schemathesis
(every check) finds no 5xx and no answer that disagrees with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from openapi_spec_validator import validate

from services.main import cli
from services.rainforest import api
from services.rainforest.openapi import openapi_document
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import create_app as create_simulator
from shared.cli import run_cli
from shared.settings import CoreSettings
from tests.fuzz import run_schemathesis, serve_in_thread

TOKEN = "fuzz-token"
# GET /api/event polls a gateway: for the users the fuzzer makes up, the gateway (the
# simulator as relay, or an address nobody listens on) rejects them or does not answer, and
# 502 is the documented answer for exactly that. Nowhere else is a 5xx accepted.
CONFIG = """
[[operations]]
include-operation-id = "get_event"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]
"""


def test_document_validates_and_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    document = openapi_document()
    validate(document)
    assert set(document["paths"]) == {
        "/api/health",
        "/api/openapi.json",
        "/api/users",
        "/api/user/{cloud_id}",
        "/api/event/{cloud_id}",
    }
    assert run_cli(cli, ["rainforest", "openapi"]) == 0
    assert json.loads(capsys.readouterr().out) == document


def _app_factory(core: CoreSettings, tmp: Path):  # noqa: ANN202 - an async factory
    async def make() -> web.Application:
        simulator = web.AppRunner(create_simulator(20))
        await simulator.setup()
        await web.TCPSite(simulator, "127.0.0.1", 0).start()
        settings = RainforestSettings(
            api_token=TOKEN,
            encryption_key=Fernet.generate_key().decode(),
            log_dir=tmp / "logs",
            relay_url=f"http://127.0.0.1:{simulator.addresses[0][1]}",
            request_timeout_s=1.0,
            gateway_networks="127.0.0.1/32",
            _env_file=None,
        )
        app = await api.create_app(core, settings, background=False)

        async def stop_simulator(_: web.Application) -> None:
            await simulator.cleanup()

        app.on_cleanup.append(stop_simulator)
        return app

    return make


def test_schemathesis_finds_no_failure(core: CoreSettings, tmp_path: Path) -> None:
    with serve_in_thread(_app_factory(core, tmp_path)) as url:
        result = run_schemathesis(
            f"{url}/api/openapi.json",
            tmp_path,
            headers={"Authorization": f"Bearer {TOKEN}"},
            config=CONFIG,
        )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"active": False},
        {"user_email": "a@b.org", "user_pw": "pw"},
        {"user_email": "a@b.org\n"},
        {"user_email": "a@b"},
        {"user_pw": ""},
        {"user_pw": "x" * 257},
        {"user_pw": "tab\there"},
        {"adapter": "eagle200"},
        {"adapter": "eagle200", "host": "eagle-0001.local:80"},
        {"adapter": "cloud"},
        {"host": "192.168.1.20:65535"},
        {"host": "192.168.1.20:65536"},
        {"host": "a" * 64},
        {"host": "a-.b"},
        {"active": 1},
        {"colour": "red"},
    ],
)
def test_body_schema_is_what_validation_accepts(body: dict) -> None:
    """The document's UserBody and validate_user agree (for an update of a stored user).
    Checked with an ECMA-regex validator, as JSON Schema specifies (the ``jsonschema``
    package's Python ``re`` lets ``$`` match before a trailing newline)."""
    import jsonschema_rs

    from services.rainforest.errors import BadUserInput
    from services.rainforest.models import USER_BODY_SCHEMA, validate_user

    schema_ok = jsonschema_rs.Draft202012Validator(USER_BODY_SCHEMA).is_valid(body)
    try:
        validate_user("000001", body, {"adapter": "cloud"})
        api_ok = True
    except BadUserInput:
        api_ok = False
    assert schema_ok == api_ok, body
