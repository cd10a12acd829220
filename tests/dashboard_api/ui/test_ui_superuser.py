"""The superuser's pages in a real browser: client picker, edgeplorer, event counts, web hits,
a Rainforest user's readings and the ops status refreshing on its own; plus the pages'
Content-Security-Policy and static files."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import Page, expect

from services.dashboard_api.pages import STATIC_DIR
from shared.heartbeat import Heartbeat
from tests.dashboard_api.ui.conftest import CLOUD_ID, FBID, SITE, UiServer, login, view_params

WEEK = {"start": "2031-05-08T04:00:00Z", "end": "2031-05-15T04:00:00Z"}
WEEK_DAYS = {"start": "2031-05-08T00:00:00Z", "end": "2031-05-16T00:00:00Z"}  # its UTC days


async def test_superuser_picks_a_client(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "admin")
    await expect(page.get_by_text("Pick a client to see its campaigns.")).to_be_visible()
    assert await page.locator("#nav a").all_text_contents() == [
        "Campaigns",
        "Edgeplorer",
        "Event counts",
        "Web hits",
        "Energy",
        "Ops",
    ]
    await page.get_by_label("Client").select_option(label="globex (client 2)")
    await expect(page.get_by_role("heading", name="Campaigns of globex (client 2)")).to_be_visible()
    expected = await ui_server.api("admin", "/api/campaigns", client_id="2", **WEEK)
    row = page.locator("table.campaigns tbody tr")
    await row.first.wait_for()
    assert await row.count() == 1
    assert await row.locator("a").text_content() == "Globex launch"
    clicks = row.locator('td[data-metric="clicks"]')
    assert await clicks.text_content() == f"{expected['campaigns'][0]['metrics']['clicks']:,}"
    assert view_params(page)["client"] == "2"
    await page.get_by_label("Client").select_option(label="initech (client 3)")
    await expect(page.get_by_text("This client has no campaigns yet.")).to_be_visible()


async def test_edgeplorer(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "admin", "#/edgeplorer")
    await expect(page.get_by_text("Enter a Facebook id to look it up.")).to_be_visible()
    await page.get_by_label("Facebook id (fbid)").fill(str(FBID))
    await page.get_by_label("Facebook id (fbid)").press("Enter")
    await expect(page.get_by_role("heading", name="Incoming edges")).to_be_visible()
    expected = await ui_server.api("admin", f"/api/edgeplorer/{FBID}")
    fields = page.locator("table.fields tbody tr")
    assert await fields.count() == len(expected["user"])
    assert await page.locator("table.fields tr", has_text="fname").locator("td").text_content() == (
        "Ada"
    )
    tables = page.locator("table.rows")
    assert await tables.nth(0).locator("tbody tr").count() == len(expected["events"]) == 7
    assert await tables.nth(1).locator("tbody tr").count() == len(expected["edges"]) == 3
    assert view_params(page) == {"fbid": str(FBID)}
    await page.goto(f"{ui_server.url}/#/edgeplorer?fbid=1234")
    await expect(page.get_by_text("No users row for fbid 1234.")).to_be_visible()
    await expect(page.get_by_text("No events for fbid 1234.")).to_be_visible()
    await page.goto(f"{ui_server.url}/#/edgeplorer?fbid=12ab")
    await expect(page.get_by_text("“12ab” is not a Facebook id.")).to_be_visible()


async def test_event_counts(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "admin", "#/events")
    await expect(page.get_by_role("heading", name="Totals by type")).to_be_visible()
    since = "2031-05-13T15:00:00Z"  # NOW's hour, 24 hours back
    assert view_params(page) == {"since": since}
    expected = await ui_server.api("admin", "/api/internal/events", since=since)
    totals: dict[str, int] = {}
    for count in expected["counts"]:
        totals[count["type"]] = totals.get(count["type"], 0) + count["count"]
    assert totals == {"shown": 3, "shared": 1}
    for kind, n in totals.items():
        cell = page.locator(f'table.by-type tr[data-type="{kind}"] td')
        assert await cell.text_content() == str(n)
    by_hour: dict[str, dict[str, int]] = {}
    for count in expected["counts"]:
        cells = by_hour.setdefault(count["hour"], {})
        cells[count["type"]] = cells.get(count["type"], 0) + count["count"]
    rows = page.locator("table.by-hour tbody tr")
    assert await rows.count() == len(by_hour) == 3  # NOW - 5 h, - 4 h, - 2 h
    first = rows.first
    assert (
        await first.locator("th").text_content() == "May 14, 2031, 06:00 AM EDT2031-05-14 10:00 UTC"
    )
    assert await first.locator('td[data-type="shown"]').text_content() == "1"
    assert await first.locator("td.total").text_content() == str(
        sum(by_hour[min(by_hour)].values())
    )
    none = page.locator('table.by-campaign_id tr[data-key="null"] th')
    assert await none.text_content() == "none"  # an event of no campaign
    await page.get_by_label("Since (America/New_York)").fill("2031-05-12T00:00")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator('table.by-type tr[data-type="button_load"]')).to_be_visible()
    assert view_params(page) == {"since": "2031-05-12T04:00:00Z"}


async def test_web_hits(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "admin", "#/web")
    await expect(page.get_by_text("Enter a site name to see its hits per day.")).to_be_visible()
    await page.get_by_label("Site").fill(SITE)
    await page.get_by_role("button", name="Look up").click()
    await page.locator("table.web-days").wait_for()
    expected = await ui_server.api("admin", f"/api/web/{SITE}/daily", **WEEK_DAYS)
    assert len(expected["days"]) == 3
    rows = page.locator("table.web-days tbody tr")
    assert await rows.count() == 3
    for day, row in zip(expected["days"], await rows.all(), strict=True):
        assert await row.get_attribute("data-day") == day["day"]
        assert await row.locator("td").all_text_contents() == [
            f"{day['hits']:,}",
            f"{day['visitors']:,}",
        ]
    assert await page.locator('svg.chart g[data-metric="hits"] circle.point').count() == 3
    await page.get_by_label("Site").fill("nope.example.net")
    await page.get_by_role("button", name="Look up").click()
    await expect(page.get_by_text("No site nope.example.net was ever imported.")).to_be_visible()


async def test_energy_readings(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "admin", "#/energy")
    await page.get_by_label("Rainforest cloud id").fill(CLOUD_ID)
    await page.get_by_role("button", name="Look up").click()
    await expect(page.get_by_role("heading", name=f"User {CLOUD_ID}")).to_be_visible()
    expected = (await ui_server.api("admin", f"/api/energy/{CLOUD_ID}"))["user"]
    readings = page.locator("table.readings tbody tr")
    assert await readings.count() == len(expected["recent_readings"]) == 20
    newest = expected["recent_readings"][0]
    assert await readings.first.locator("td").nth(2).text_content() == f"{newest['demand_kw']:.3f}"
    await expect(page.get_by_text("2031-05-14 15:19 UTC").first).to_be_visible()
    await expect(page.get_by_text(expected["user_email"])).to_be_visible()
    assert "gateway-secret" not in await page.content()
    await page.goto(f"{ui_server.url}/#/energy?cloud_id=0000ff")
    await expect(page.get_by_text("No Rainforest user with cloud id 0000ff.")).to_be_visible()


async def test_ops_status_refreshes_itself(page: Page, ui_server: UiServer) -> None:
    beat = Heartbeat(ui_server.redis, "aggregator", interval_s=600)
    await beat.beat()
    for _ in range(3):
        await beat.job_ok("aggregate")
    await beat.job_failed("aggregate", "warehouse unreachable: connection refused")
    await login(page, ui_server, "admin", "#/ops")
    row = page.locator('table.ops tr[data-service="aggregator"]')
    await expect(row.locator(".badge")).to_have_text("up (1 process), last job failed")
    await expect(row.locator('td[data-field="jobs_ok"]')).to_have_text("3")
    await expect(row.get_by_text("warehouse unreachable: connection refused")).to_be_visible()
    sync = page.locator('table.ops tr[data-service="sync"] .badge')
    await expect(sync).to_have_text("down: no live heartbeat")
    await beat.job_ok("aggregate")
    await page.clock.fast_forward(5000)  # one refresh period
    await expect(row.locator('td[data-field="jobs_ok"]')).to_have_text("4")
    await expect(row.locator(".badge")).to_have_text("up (1 process)")
    await page.get_by_role("button", name="Pause auto-refresh").click()
    await beat.job_ok("aggregate")
    await page.clock.fast_forward(15000)
    await expect(row.locator('td[data-field="jobs_ok"]')).to_have_text("4")
    await beat.stop()


async def test_pages_have_a_strict_csp_and_nothing_inline(ui_server: UiServer) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/static/js/main.js", "/static/app.css"):
            async with http.get(ui_server.url + path) as resp:
                assert resp.status == 200
                csp = resp.headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp and "script-src 'self'" in csp
                assert "style-src 'self'" in csp and "unsafe" not in csp
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(ui_server.url + "/static/js/main.js") as resp:
            assert resp.content_type == "text/javascript"
        for path in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/nope.js"):
            async with http.get(ui_server.url + path) as resp:
                assert resp.status == 404
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert len(files) > 10
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every script is a file
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html)
    for path in files:
        text = path.read_text()
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (path, urls)  # nothing from elsewhere
        if path.suffix == ".js":
            assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|eval\(|\.style\b", text)
