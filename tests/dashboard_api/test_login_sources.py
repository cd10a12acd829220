"""Login and client scoping read Django's auth tables from the source, Postgres or MySQL,
with the same answers: exact usernames (MySQL's collations ignore case and trailing
spaces), is_active honoured, one message for every failure, each client's campaigns only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from services.dashboard_api.api import create_app
from shared.settings import CoreSettings
from shared.source import SourceDatabase, open_source
from tests.clock import iso_z
from tests.conftest import core_on_source
from tests.dashboard_api.conftest import (
    T0,
    USERS,
    dashboard_settings,
    login,
    seed_auth,
    seed_warehouse,
)

RANGE = {"start": iso_z(T0), "end": iso_z(T0 + timedelta(days=1))}  # the seeded day
LOGIN_FAILED = {"error": {"code": "unauthorized", "message": "invalid username or password"}}


@pytest_asyncio.fixture(params=["postgres", "mysql"])
async def on_source(
    request: pytest.FixtureRequest, core: CoreSettings, warehouse: asyncpg.Pool, mysql_run: str
) -> AsyncIterator[tuple[TestClient, SourceDatabase]]:
    """The API on a seeded Postgres or MySQL source, and that source."""
    async with AsyncExitStack() as stack:
        setup = await stack.enter_async_context(core_on_source(request.param, core, mysql_run))
        source = await open_source(setup.source_dsn or "")
        stack.push_async_callback(source.close)
        await seed_auth(source)  # the same statements on both dialects
        await seed_warehouse(warehouse)
        app = await create_app(setup, dashboard_settings(login_max_failures=20))
        client = await stack.enter_async_context(TestClient(TestServer(app)))
        yield client, source


async def test_every_user_logs_in_with_its_clients(on_source) -> None:
    client, _ = on_source
    for username, (password, superuser, active, clients) in USERS.items():
        resp = await client.post("/api/login", json={"username": username, "password": password})
        if not active:
            assert resp.status == 401 and await resp.json() == LOGIN_FAILED
            continue
        body = await resp.json()
        assert resp.status == 200, body
        assert (body["is_superuser"], body["client_ids"]) == (superuser, list(clients))


BAD_LOGINS = [
    ("acme", "wrong"),
    ("nobody", "acme-pw"),
    ("gone", "gone-pw"),
    ("ACME", "acme-pw"),
    ("Acme", "acme-pw"),
    ("acme ", "acme-pw"),
    (" acme", "acme-pw"),
]


async def test_bad_logins_share_one_message(on_source) -> None:
    client, _ = on_source
    for username, password in BAD_LOGINS:
        resp = await client.post("/api/login", json={"username": username, "password": password})
        assert (resp.status, await resp.json()) == (401, LOGIN_FAILED), username


async def test_client_user_sees_only_its_campaigns(on_source) -> None:
    client, _ = on_source
    headers = await login(client, "acme")
    body = await (await client.get("/api/campaigns", params=RANGE, headers=headers)).json()
    assert body["client_id"] == 1 and [c["campaign_id"] for c in body["campaigns"]] == [10, 12]
    resp = await client.get("/api/campaigns", params={**RANGE, "client_id": "2"}, headers=headers)
    assert resp.status == 404
    admin = await login(client, "admin")
    resp = await client.get("/api/campaigns", params={**RANGE, "client_id": "2"}, headers=admin)
    assert [c["campaign_id"] for c in (await resp.json())["campaigns"]] == [20]


async def test_unicode_username_and_missing_auth_tables(on_source) -> None:
    client, source = on_source
    password = USERS["acme"][0]
    hashed = await source.fetchval("SELECT password FROM auth_user WHERE username = 'acme'")
    await source.execute(
        "INSERT INTO auth_user (id, username, password, is_superuser, is_active)"
        " VALUES (50, $1, $2, $3, $4)",
        "zoë🚀",
        hashed,
        False,
        True,
    )
    resp = await client.post("/api/login", json={"username": "zoë🚀", "password": password})
    assert resp.status == 200 and (await resp.json())["client_ids"] == []
    resp = await client.post("/api/login", json={"username": "zoe🚀", "password": password})
    assert resp.status == 401
    for table in ("auth_user_groups", "clients_auth_groups", "auth_user"):
        await source.execute(f"DROP TABLE {table}")
    resp = await client.post("/api/login", json={"username": "acme", "password": password})
    assert resp.status == 401 and await resp.json() == LOGIN_FAILED
