"""Browser tests of the dashboard pages: a real Chromium (Debian's, driven by Playwright)
against the real API served on a free port with fixture data in real Postgres and Redis.

- Data is placed relative to ``NOW``; every page's clock is set to ``NOW`` and its zone to
  ``TIME_ZONE``, so "the last 7 days" means the same on any day the suite runs.
- One browser per test session; each test gets a fresh context (no cookies, no storage).
- A failing test saves a screenshot under the pytest temp dir and prints its path.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.fernet import Fernet
from playwright.async_api import Browser, Page, async_playwright
from redis.asyncio import Redis

from services.aggregator.rollups import rebuild_rollups
from services.dashboard_api.api import create_app
from services.rainforest.ownership import shard_of
from services.rainforest.settings import RainforestSettings
from services.rainforest.users import UserStore
from shared.settings import CoreSettings
from tests import stack
from tests.conftest import Templates
from tests.dashboard_api.conftest import USERS, dashboard_settings, seed_auth
from tests.dashboard_api.rainforest_app import RAINFOREST_TOKEN, USER, start_rainforest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOW = datetime(2031, 5, 14, 15, 20, tzinfo=UTC)  # a Wednesday; 11:20 in New York (EDT)
TIME_ZONE = "America/New_York"
HOUR = timedelta(hours=1)
CLOUD_ID = "000123"
SITE = "www.example.org"
FBID = 7000
FAILED = pytest.StashKey[bool]()

# client_id: name; campaign_id: (client_id, root_campaign_id, name)
CLIENTS = {1: "acme", 2: "globex", 3: "initech"}
CAMPAIGNS = {
    10: (1, 10, "Spring sale"),
    11: (1, 10, "Spring sale, variant B"),
    12: (1, 12, 'Holiday "big", deals'),
    13: (1, 13, "=HYPERLINK(1)"),
    14: (1, 14, "Quiet campaign"),
    20: (2, 20, "Globex launch"),
}
# campaign_id: hours before NOW with facts (the last one is outside the default 7 days)
ACTIVE_HOURS = {10: (1, 2, 3, 26, 120, 240), 11: (2, 27), 12: (5, 50), 13: (8,), 20: (1, 2)}


@dataclass
class UiServer:
    url: str
    core: CoreSettings
    redis: Redis

    async def api(self, username: str, path: str, **params: str) -> Any:
        """The API's answer for ``username`` (logged in with a bearer token of its own)."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            login = {"username": username, "password": USERS[username][0]}
            async with http.post(f"{self.url}/api/login", json=login) as resp:
                assert resp.status == 200, await resp.text()
                token = (await resp.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{self.url}{path}", params=params, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()


async def seed_ui_warehouse(warehouse: asyncpg.Pool) -> None:
    """Clients, campaigns and facts around NOW (numbers large enough for separators) and
    their rollups, a users row with events and edges for edgeplorer, and web hits."""
    await warehouse.executemany(
        "INSERT INTO clients (client_id, name) VALUES ($1, $2)", list(CLIENTS.items())
    )
    for cid, (client, root, name) in CAMPAIGNS.items():
        await warehouse.execute(
            "INSERT INTO campaigns (campaign_id, client_id, name) VALUES ($1, $2, $3)",
            cid,
            client,
            name,
        )
        await warehouse.execute(
            "INSERT INTO campaign_properties (campaign_property_id, campaign_id, root_campaign_id) "
            "VALUES ($1, $1, $2)",
            cid,
            root,
        )
    for cid, hours in ACTIVE_HOURS.items():
        for n, ago in enumerate(hours):
            hour = NOW.replace(minute=0) - ago * HOUR
            size = 300 * (n + 1) + cid  # distinct ids per hour, overlapping across hours
            await warehouse.execute(
                "INSERT INTO visit_facts_hourly (campaign_id, hour, visit_id, visit_ids) "
                "SELECT $1, $2, g, 1 FROM generate_series($3::bigint, $3 + $4) g",
                cid,
                hour,
                cid * 100_000 + n * 200,
                size,
            )
            await warehouse.execute(
                "INSERT INTO misc_facts_hourly (campaign_id, hour, clicks, authorizations, "
                "clickbacks) VALUES ($1, $2, $3, $4, $5)",
                cid,
                hour,
                1234 + 17 * n + cid,
                400 + n,
                25 * (n + 1),
            )
            await warehouse.execute(
                "INSERT INTO fbid_facts_hourly (campaign_id, hour, fbid, fbids_authorized, "
                "fbids_shown_friends, fbids_shared) "
                "SELECT $1, $2, g, (g % 2)::int, 1, (g % 3 = 0)::int "
                "FROM generate_series($3::bigint, $3 + $4) g",
                cid,
                hour,
                cid * 1_000_000 + n * 100,
                size,
            )
            await warehouse.execute(
                "INSERT INTO friend_fbid_facts_hourly (campaign_id, hour, friend_fbid, "
                "friends_shared_with) SELECT $1, $2, g, 1 FROM generate_series($3::bigint, $3 + $4) g",
                cid,
                hour,
                cid * 10_000_000 + n * 500,
                size * 2,
            )
    await rebuild_rollups(warehouse)
    await warehouse.execute(
        "INSERT INTO users (fbid, fname, lname, city, updated) VALUES ($1, 'Ada', 'Lovelace', "
        "'London', $2)",
        FBID,
        NOW - 3 * HOUR,
    )
    await warehouse.execute(
        "INSERT INTO visitors (visitor_id, uuid, fbid, created, updated) VALUES (1, 'u1', $1, $2, $2)",
        FBID,
        NOW - 30 * HOUR,
    )
    await warehouse.execute(
        "INSERT INTO visits (visit_id, visitor_id, session_id, app_id, ip, created, updated) "
        "VALUES (1, 1, 's1', 42, '192.0.2.1', $1, $1)",
        NOW - 30 * HOUR,
    )
    events = [
        ("button_load", 10, 30), ("button_click", 10, 30), ("authorized", 10, 29),
        ("shown", 12, 5), ("shared", 12, 5), ("shown", 12, 4), ("shown", None, 2),
    ]  # fmt: skip
    await warehouse.executemany(
        "INSERT INTO events (event_id, visit_id, campaign_id, type, event_datetime, created, "
        "updated) VALUES ($1, 1, $2, $3, $4, $4, $4)",
        [(i, cid, kind, NOW - ago * HOUR) for i, (kind, cid, ago) in enumerate(events, 1)],
    )
    await warehouse.executemany(
        "INSERT INTO edges (fbid_target, fbid_source, post_likes, mut_friends, updated) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(FBID, 8000 + i, i, 10 * i, NOW - HOUR) for i in range(1, 4)],
    )
    await warehouse.execute(
        "INSERT INTO web_hits (site, hit_time, path, visitor_key, s3_key, line_no) "
        "SELECT $1, $2::timestamptz - (g % 3) * interval '1 day' - g * interval '1 second', '/', "
        "'v' || (g % 700), 'k', g FROM generate_series(1, 4000) g",
        SITE,
        NOW - 2 * HOUR,
    )


async def seed_rainforest_user(core: CoreSettings, url: str, redis: Redis) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        resp = await http.post(
            f"{url}/api/user/{CLOUD_ID}",
            json=USER,
            headers={"Authorization": f"Bearer {RAINFOREST_TOKEN}"},
        )
        assert resp.status == 200, await resp.text()
    readings = [
        {
            "cloud_id": CLOUD_ID,
            "meter_mac": "0x00135003007c5678",
            "device_mac": "0xd8d5b90000001234",
            "eagle_time": (NOW - timedelta(seconds=6 * i)).isoformat(),
            "received_at": (NOW - timedelta(seconds=6 * i - 1)).isoformat(),
            "demand_kw": 1.5 + i / 1000,
            "summation_delivered_kwh": None,
            "summation_received_kwh": None,
            "source": "cloud",
        }
        for i in range(25, 0, -1)
    ]
    store = UserStore(redis, Fernet(Fernet.generate_key()))
    shard = shard_of(CLOUD_ID, RainforestSettings(_env_file=None).shards)
    for reading in readings:  # as GET /api/event records them
        await store.record_remote(reading, json.dumps(reading), shard)


@pytest_asyncio.fixture(scope="module")
async def ui_server(
    templates: Templates, redis_claim: stack.RedisClaim, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[UiServer]:
    """The dashboard API and pages on a free port over this module's own databases."""
    prefix = f"{templates.prefix}ui{stack.run_id()[:4]}_"
    core = CoreSettings(
        source_dsn=await stack.create_database(f"{prefix}source", templates.source),
        warehouse_dsn=await stack.create_database(f"{prefix}warehouse", templates.warehouse),
        redis_url=redis_claim.url,
        network_timeout_s=10,
        _env_file=None,
    )
    redis = Redis.from_url(redis_claim.url)
    await redis.flushdb()
    source = await asyncpg.create_pool(core.source_dsn, min_size=1, max_size=2)
    warehouse = await asyncpg.create_pool(core.warehouse_dsn, min_size=1, max_size=2)
    await seed_auth(source)
    await seed_ui_warehouse(warehouse)
    await source.close()
    await warehouse.close()
    rainforest, rainforest_url = await start_rainforest(core, tmp_path_factory.mktemp("rf"))
    await seed_rainforest_user(core, rainforest_url, redis)
    settings = dashboard_settings(rainforest_url=rainforest_url, rainforest_token=RAINFOREST_TOKEN)
    runner = web.AppRunner(await create_app(core, settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield UiServer(f"http://127.0.0.1:{runner.addresses[0][1]}", core, redis)
    await runner.cleanup()
    await rainforest.cleanup()
    await redis.aclose()
    await stack.drop_databases(prefix)


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session (Playwright gives it a fresh temporary
    profile directory); never a downloaded browser build."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    await browser.close()
    await playwright.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@dataclass
class PageProblems:
    """What the browser reported that no page should cause."""

    csp: list[str]
    uncaught: list[str]
    foreign_requests: list[str]


async def new_page(
    browser: Browser, server: UiServer, viewport: dict[str, int] | None = None
) -> tuple[Page, PageProblems]:
    context = await browser.new_context(
        locale="en-US",
        timezone_id=TIME_ZONE,
        viewport=viewport or {"width": 1280, "height": 900},
        accept_downloads=True,
    )
    await context.clock.install(time=NOW)  # time flows on from NOW; tests may jump it
    page = await context.new_page()
    page.set_default_timeout(10_000)
    problems = PageProblems([], [], [])
    page.on(
        "console",
        lambda m: problems.csp.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: problems.uncaught.append(str(e)))
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith((server.url, "blob:", "data:"))
            else problems.foreign_requests.append(r.url)
        ),
    )
    return page, problems


@pytest_asyncio.fixture
async def page(
    browser: Browser,
    ui_server: UiServer,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Page]:
    """A fresh page (own cookies and storage) at NOW in New York; screenshot on failure;
    fails the test if the page broke its CSP, threw, or asked another origin for anything."""
    page, problems = await new_page(browser, ui_server)
    yield page
    await save_screenshot_if_failed(page, request, tmp_path_factory)
    await page.context.close()
    assert problems == PageProblems([], [], []), problems


async def save_screenshot_if_failed(
    page: Page, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if not request.node.stash.get(FAILED, False) or page.is_closed():
        return
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    path = folder / f"{request.node.name}.png"
    await page.screenshot(path=path, full_page=True)
    print(f"\nscreenshot of the failed test: {path}")  # noqa: T201 - shown with the failure


async def login(page: Page, server: UiServer, username: str, hash_: str = "") -> None:
    """Open the pages (at ``hash_``) and log in as ``username`` of USERS, with the keyboard."""
    await page.goto(f"{server.url}/{hash_}")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(USERS[username][0])
    await page.get_by_label("Password").press("Enter")
    await page.locator("#who").get_by_text(username).wait_for()


def view_params(page: Page) -> dict[str, str]:
    """The state in the page's address (``#/<page>?<state>``)."""
    query = urlsplit(page.url).fragment.partition("?")[2]
    return dict(parse_qsl(query))


async def download_csv(page: Page, button: str, folder: Path) -> tuple[str, list[list[str]]]:
    """Click ``button``, save the download; its text and its parsed rows."""
    async with page.expect_download() as info:
        await page.get_by_role("button", name=button).click()
    download = await info.value
    path = folder / download.suggested_filename
    await download.save_as(path)
    text = path.read_text(encoding="utf-8")
    return text, list(csv.reader(io.StringIO(text, newline="")))
