"""Fixtures of the dashboard_api tests: fact tables, a small data set, a running app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest_asyncio
from aiohttp.test_utils import TestClient

from services.aggregator.rollups import rebuild_rollups
from services.dashboard_api.api import create_app
from services.dashboard_api.passwords import make_django_hash
from services.dashboard_api.settings import DashboardSettings
from shared.settings import CoreSettings
from tests.clock import days_ago
from tests.edge import EdgeTestServer

# The fixture's first day: three days ago, inside every "last N days" window the code reads.
T0 = days_ago(3)
ITERATIONS = 1000
# username: (password, is_superuser, is_active, client ids)
USERS = {
    "admin": ("admin-pw", True, True, ()),
    "acme": ("acme-pw", False, True, (1,)),
    "globex": ("globex-pw", False, True, (2,)),
    "gone": ("gone-pw", False, False, (1,)),
}
# campaign_id: (client_id, root_campaign_id)
CAMPAIGNS = {10: (1, 10), 11: (1, 10), 12: (1, 12), 20: (2, 20)}


async def seed_auth(source: asyncpg.Pool) -> None:
    for user_id, (name, (password, superuser, active, clients)) in enumerate(USERS.items(), 1):
        await source.execute(
            "INSERT INTO auth_user (id, username, password, is_superuser, is_active) "
            "VALUES ($1, $2, $3, $4, $5)",
            user_id,
            name,
            make_django_hash(password, f"salt{user_id}", ITERATIONS),
            superuser,
            active,
        )
        for client_id in clients:
            await source.execute(
                "INSERT INTO auth_user_groups VALUES ($1, $2)", user_id, 100 + client_id
            )
    for client_id in (1, 2):
        await source.execute(
            "INSERT INTO clients_auth_groups VALUES ($1, $2)", 100 + client_id, client_id
        )


async def seed_warehouse(warehouse: asyncpg.Pool) -> None:
    """Clients, campaigns and fact rows over 3 hours of day T0 plus one row the day after,
    their rollups (rebuilt from the facts, as ``forklift aggregate rollups --rebuild``), and
    one imported web hit of www.example.org."""
    await warehouse.execute(
        "INSERT INTO clients (client_id, name) VALUES (1, 'acme'), (2, 'globex')"
    )
    for cid, (client, root) in CAMPAIGNS.items():
        await warehouse.execute(
            "INSERT INTO campaigns (campaign_id, client_id, name) VALUES ($1, $2, $3)",
            cid,
            client,
            f"c{cid}",
        )
        await warehouse.execute(
            "INSERT INTO campaign_properties (campaign_property_id, campaign_id, root_campaign_id) "
            "VALUES ($1, $1, $2)",
            cid,
            root,
        )
    hours = [T0 + timedelta(hours=h) for h in (0, 1, 2, 25)]
    for i, (cid, hour) in enumerate((c, h) for c in CAMPAIGNS for h in hours):
        # visits: the same visit id appears in two campaigns of root 10 (counted once)
        await warehouse.execute(
            "INSERT INTO visit_facts_hourly (campaign_id, hour, visit_id, visit_ids) "
            "VALUES ($1, $2, $3, 1), ($1, $2, $4, 0)",
            cid,
            hour,
            1000 + i % 5,
            5000 + i,
        )
        await warehouse.execute(
            "INSERT INTO misc_facts_hourly (campaign_id, hour, clicks, authorizations, clickbacks) "
            "VALUES ($1, $2, $3, $4, $5)",
            cid,
            hour,
            i + 1,
            i % 3,
            2,
        )
        await warehouse.execute(
            "INSERT INTO fbid_facts_hourly (campaign_id, hour, fbid, fbids_authorized, "
            "fbids_shown_friends, fbids_shared) VALUES ($1, $2, $3, 1, $4, 0), ($1, $2, $5, 0, 1, 1)",
            cid,
            hour,
            7000 + i % 4,
            i % 2,
            8000 + i % 3,
        )
        await warehouse.execute(
            "INSERT INTO friend_fbid_facts_hourly (campaign_id, hour, friend_fbid, friends_shared_with) "
            "VALUES ($1, $2, $3, 1)",
            cid,
            hour,
            9000 + i % 6,
        )
    await rebuild_rollups(warehouse)
    await warehouse.execute(
        "INSERT INTO web_hits (site, hit_time, visitor_key, s3_key, line_no)"
        " VALUES ('www.example.org', $1, 'v1', 'k', 1)",
        T0 + timedelta(hours=3),
    )


@pytest_asyncio.fixture
async def seeded(core: CoreSettings, source: asyncpg.Pool, warehouse: asyncpg.Pool) -> CoreSettings:
    await seed_auth(source)
    await seed_warehouse(warehouse)
    return core


def dashboard_settings(**overrides: object) -> DashboardSettings:
    """Production defaults, but the fixture's hash iterations; the test client's address
    (127.0.0.1) is a trusted proxy, so ``X-Forwarded-For`` picks the address a test logs in
    from (see :func:`from_address`)."""
    values: dict[str, object] = {
        "session_secret": "test-secret",
        "password_iterations": ITERATIONS,
        "trusted_proxies": "127.0.0.1/32",
        **overrides,
    }
    return DashboardSettings(_env_file=None, **values)


def from_address(address: str) -> dict[str, str]:
    """Headers making a login come from ``address`` (through the trusted proxy)."""
    return {"X-Forwarded-For": address}


async def serve(core: CoreSettings, settings: DashboardSettings) -> TestClient:
    """A started test client of the app (close it with ``await client.close()``)."""
    test_client = TestClient(EdgeTestServer(await create_app(core, settings)))
    await test_client.start_server()
    return test_client


@pytest_asyncio.fixture
async def client(seeded: CoreSettings) -> AsyncIterator[TestClient]:
    test_client = await serve(seeded, dashboard_settings(login_max_failures=3))
    yield test_client
    await test_client.close()


async def login(client: TestClient, username: str, address: str = "192.0.2.1") -> dict[str, str]:
    """Bearer headers of a logged-in user of :data:`USERS`."""
    resp = await client.post(
        "/api/login",
        json={"username": username, "password": USERS[username][0]},
        headers=from_address(address),
    )
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}
