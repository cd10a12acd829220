"""The client dashboard in a real browser: login, the campaign table against the API, sorting,
charts, CSV downloads, shareable views, client isolation, logout and an expired session."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import Page, Route, expect

from tests.dashboard_api.ui.conftest import (
    UiServer,
    download_csv,
    login,
    view_params,
)

METRICS = ["visits", "clicks", "auths", "uniq_auths", "shown", "shares", "audience", "clickbacks"]
# the last 7 days at NOW (2031-05-14 11:20 in New York): local midnights May 8 to May 15
WEEK = {"start": "2031-05-08T04:00:00Z", "end": "2031-05-15T04:00:00Z"}
# the UTC days covering WEEK: what the page asks daily data for
WEEK_DAYS = {"start": "2031-05-08T00:00:00Z", "end": "2031-05-16T00:00:00Z"}
ACME_ROOTS = {10, 12, 13, 14}


async def table_rows(page: Page) -> list[dict[str, Any]]:
    """The campaign table as shown: id, name and each metric's text, in display order."""
    return await page.locator("table.campaigns tbody tr").evaluate_all(
        """rows => rows.map(r => ({
            id: Number(r.dataset.campaign),
            name: r.querySelector("a").textContent,
            cells: Object.fromEntries([...r.querySelectorAll("td")].map(td => [td.dataset.metric, td.textContent])),
        }))"""
    )


async def test_table_is_the_apis_numbers_for_the_last_7_days(
    page: Page, ui_server: UiServer
) -> None:
    await login(page, ui_server, "acme")
    await page.locator("table.campaigns").wait_for()
    assert view_params(page) == {**WEEK, "client": "1", "sort": "visits", "dir": "desc"}
    assert await page.get_by_label("From").input_value() == "2031-05-08"
    assert await page.get_by_label("To (inclusive)").input_value() == "2031-05-14"
    await expect(page.get_by_text("2031-05-08 04:00 UTC to 2031-05-15 04:00 UTC")).to_be_visible()

    expected = await ui_server.api("acme", "/api/campaigns", **WEEK)
    shown = await table_rows(page)
    assert (
        {r["id"] for r in shown} == {c["campaign_id"] for c in expected["campaigns"]} == ACME_ROOTS
    )
    by_id = {r["id"]: r for r in shown}
    for campaign in expected["campaigns"]:
        row = by_id[campaign["campaign_id"]]
        assert row["name"] == campaign["name"]
        assert row["cells"] == {m: f"{campaign['metrics'][m]:,}" for m in METRICS}
    assert by_id[10]["cells"]["clicks"].count(",") == 1  # thousands separators (en-US)
    visits = {c["campaign_id"]: c["metrics"]["visits"] for c in expected["campaigns"]}
    assert [r["id"] for r in shown] == sorted(visits, key=lambda c: (-visits[c], c))


async def test_sorting_is_kept_in_the_address(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "acme")
    await page.locator("table.campaigns").wait_for()
    expected = await ui_server.api("acme", "/api/campaigns", **WEEK)
    clicks = {c["campaign_id"]: c["metrics"]["clicks"] for c in expected["campaigns"]}
    sort_clicks = page.get_by_role("button", name="Clicks", exact=True)
    await sort_clicks.click()
    assert [r["id"] for r in await table_rows(page)] == sorted(clicks, key=lambda c: -clicks[c])
    await sort_clicks.press("Enter")  # the keyboard works too: now ascending
    ascending = sorted(clicks, key=lambda c: clicks[c])
    assert [r["id"] for r in await table_rows(page)] == ascending
    assert await page.locator("th[aria-sort=ascending]").text_content() == "Clicks ▲"
    assert view_params(page)["sort"] == "clicks" and view_params(page)["dir"] == "asc"
    await page.reload()
    await page.locator("table.campaigns").wait_for()
    assert [r["id"] for r in await table_rows(page)] == ascending
    await page.get_by_role("button", name="Campaign", exact=True).click()
    names = [r["name"] for r in await table_rows(page)]
    assert names == sorted(names, key=str.lower)


async def test_campaign_chart_has_a_marker_per_point(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "acme")
    await page.get_by_role("link", name="Spring sale").click()
    await expect(page.get_by_role("heading", name="Spring sale #10")).to_be_visible()
    chart = page.locator("svg.chart")
    await chart.wait_for()
    assert view_params(page) == {**WEEK, "client": "1", "granularity": "hour"}
    hourly = await ui_server.api("acme", "/api/campaigns/10/series", **WEEK, granularity="hour")
    assert len(hourly["points"]) == 6  # campaign 10 and its child 11, within the 7 days
    for metric in METRICS:
        series = chart.locator(f'g.series[data-metric="{metric}"]')
        assert await series.locator("circle.point").count() == len(hourly["points"])
        vertices = await series.locator("polyline").get_attribute("points")
        assert len(vertices.split()) == 7 * 24  # every hour of the range, 0 where no data
    first = hourly["points"][0]
    title = chart.locator('g[data-metric="clicks"] circle.point title').first
    assert (await title.text_content()).startswith(f"Clicks: {first['metrics']['clicks']:,} — ")
    # the totals are the campaign's row of the table
    summary = await ui_server.api("acme", "/api/campaigns", **WEEK)
    ten = next(c for c in summary["campaigns"] if c["campaign_id"] == 10)
    totals = page.locator("dl.totals dd")
    assert await totals.all_text_contents() == [f"{ten['metrics'][m]:,}" for m in METRICS]
    # the points table under the chart
    cells = page.locator("table.points tbody tr").first.locator("td")
    assert await cells.all_text_contents() == [f"{first['metrics'][m]:,}" for m in METRICS]

    await page.get_by_role("button", name="Daily").click()
    await expect(page.get_by_role("heading", name="Daily (UTC days) chart")).to_be_visible()
    daily = await ui_server.api("acme", "/api/campaigns/10/series", **WEEK_DAYS, granularity="day")
    assert view_params(page)["granularity"] == "day"
    assert await page.locator('svg.chart g[data-metric="visits"] circle.point').count() == len(
        daily["points"]
    )
    # hiding a metric is part of the view too
    await page.get_by_role("button", name="Visits").click()
    await expect(page.locator('button[data-metric="visits"]')).to_have_attribute(
        "aria-pressed", "false"
    )
    assert await page.locator("svg.chart g.series").count() == 7
    assert view_params(page)["metrics"] == ",".join(METRICS[1:])


async def test_csv_downloads_hold_what_the_api_said(
    page: Page, ui_server: UiServer, tmp_path: Path
) -> None:
    await login(page, ui_server, "acme")
    await page.locator("table.campaigns").wait_for()
    expected = await ui_server.api("acme", "/api/campaigns", **WEEK)
    text, rows = await download_csv(page, "Download table (CSV)", tmp_path)
    assert rows[0] == ["campaign_id", "name", *METRICS]
    assert {tuple(r) for r in rows[1:]} == {
        (
            str(c["campaign_id"]),
            "'=HYPERLINK(1)" if c["name"].startswith("=") else c["name"],  # no formula
            *(str(c["metrics"][m]) for m in METRICS),
        )
        for c in expected["campaigns"]
    }
    assert [int(r[0]) for r in rows[1:]] == [r["id"] for r in await table_rows(page)]
    assert '"Holiday ""big"", deals"' in text

    await page.get_by_role("link", name='Holiday "big", deals').click()
    await page.locator("svg.chart").wait_for()
    series = await ui_server.api("acme", "/api/campaigns/12/series", **WEEK, granularity="hour")
    _, rows = await download_csv(page, "Download series (CSV)", tmp_path)
    assert rows == [
        ["start_utc", *METRICS],
        *([p["start"], *(str(p["metrics"][m]) for m in METRICS)] for p in series["points"]),
    ]


async def test_a_shared_address_opens_exactly_that_view(page: Page, ui_server: UiServer) -> None:
    view = (
        "#/campaign/12?client=1&start=2031-05-01T04:00:00Z&end=2031-05-15T04:00:00Z"
        "&granularity=day&metrics=visits,clicks"
    )
    await login(page, ui_server, "acme", view)  # not logged in yet: login, then the view
    await page.locator("svg.chart").wait_for()
    assert page.url.endswith(view)
    assert await page.get_by_label("From").input_value() == "2031-05-01"
    assert await page.get_by_label("To (inclusive)").input_value() == "2031-05-14"
    assert await page.locator("button[data-granularity=day]").get_attribute("aria-pressed") == (
        "true"
    )
    pressed = page.locator('.legend button[aria-pressed="true"]')
    assert await pressed.all_text_contents() == ["Visits", "Clicks"]
    daily = await ui_server.api(
        "acme",
        "/api/campaigns/12/series",
        start="2031-05-01T00:00:00Z",
        end="2031-05-16T00:00:00Z",
        granularity="day",
    )
    assert len(daily["points"]) == 2
    assert await page.locator("svg.chart circle.point").count() == 2 * len(daily["points"])
    # the copy box holds the address of this view
    assert await page.locator("input.share-url").input_value() == page.url


async def test_another_clients_campaign_is_not_found(page: Page, ui_server: UiServer) -> None:
    await login(page, ui_server, "acme")
    await page.locator("table.campaigns").wait_for()
    query = "start=2031-05-08T04:00:00Z&end=2031-05-15T04:00:00Z"
    for client in (2, 1):
        await page.goto(f"{ui_server.url}/#/campaign/20?client={client}&{query}")
        await expect(page.get_by_text("Campaign 20 not found.")).to_be_visible()
        await expect(page.get_by_role("heading", name="Campaign not found")).to_be_visible()
        assert "Globex" not in await page.content()
    await page.goto(f"{ui_server.url}/#/campaigns?client=2&{query}")
    await expect(page.get_by_text("Client 2 not found.")).to_be_visible()
    assert await page.locator("table.campaigns").count() == 0
    # no superuser page in the menu, and none opens
    assert await page.locator("#nav a").all_text_contents() == ["Campaigns"]
    await page.goto(f"{ui_server.url}/#/ops")
    await expect(page.get_by_text("This page is for superusers.")).to_be_visible()


async def test_session_cookie_stays_httponly_and_logout_ends_it(
    page: Page, ui_server: UiServer
) -> None:
    await login(page, ui_server, "acme")
    await page.locator("table.campaigns").wait_for()
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["forklift_session"]["httpOnly"] is True
    assert await page.evaluate("document.cookie") == ""
    assert "token" not in await page.evaluate("JSON.stringify(localStorage)")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_text("You are logged out.")).to_be_visible()
    assert "forklift_session" not in {c["name"] for c in await page.context.cookies()}
    await page.goto(f"{ui_server.url}/#/campaigns")
    await expect(page.get_by_label("Password")).to_be_visible()
    assert await page.locator("#nav").is_hidden()


async def test_an_expired_session_goes_back_to_login_and_then_the_view(
    page: Page, ui_server: UiServer
) -> None:
    before = set(await ui_server.redis.keys("*"))
    await login(page, ui_server, "acme")
    await page.locator("table.campaigns").wait_for()
    session_keys = set(await ui_server.redis.keys("*")) - before
    assert session_keys
    await ui_server.redis.delete(*session_keys)  # what the session's TTL does
    await page.get_by_role("button", name="Last 30 days").click()
    await expect(page.get_by_text("Your session has expired or was ended.")).to_be_visible()
    assert urlsplit_fragment(page).startswith("/login?reason=expired&next=")
    await page.get_by_label("Username").fill("acme")
    await page.get_by_label("Password").fill("acme-pw")
    await page.get_by_role("button", name="Log in").click()
    await page.locator("table.campaigns").wait_for()
    assert view_params(page)["start"] == "2031-04-15T04:00:00Z"  # the 30 days asked for


def urlsplit_fragment(page: Page) -> str:
    return page.url.partition("#")[2]


async def test_loading_empty_and_error_states(page: Page, ui_server: UiServer) -> None:
    release = asyncio.Event()

    async def slow(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/api/campaigns?*", slow)
    await login(page, ui_server, "acme")
    await expect(page.get_by_text("Loading campaigns…")).to_be_visible()
    await expect(page.locator("#busy")).to_have_text("Loading…")
    release.set()
    await page.locator("table.campaigns").wait_for()
    await expect(page.locator("#busy")).to_have_text("")
    await page.unroute("**/api/campaigns?*")

    await page.route("**/api/campaigns?*", lambda route: route.abort())
    await page.get_by_role("button", name="Last 30 days").click()
    await expect(page.get_by_text("Could not load the campaigns.")).to_be_visible()
    await expect(page.get_by_text("Could not reach the dashboard API.")).to_be_visible()
    await page.unroute("**/api/campaigns?*")
    await page.get_by_role("button", name="Retry").click()
    await page.locator("table.campaigns").wait_for()

    await page.get_by_label("From").fill("2030-01-01")
    await page.get_by_label("To (inclusive)").fill("2030-01-31")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_text("No activity in this date range.")).to_be_visible()
    await page.get_by_label("From").fill("2028-01-01")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_text("may span at most 400 days")).to_be_visible()
    await expect(page.get_by_text("Correct the “end” value and try again.")).to_be_visible()
    await page.get_by_label("From").fill("2031-05-20")
    await page.get_by_role("button", name="Apply").click()
    await expect(
        page.get_by_text("The last day must be on or after the first day.")
    ).to_be_visible()


async def test_readable_on_a_phone(page: Page, ui_server: UiServer, tmp_path: Path) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await login(page, ui_server, "acme")
    await page.locator("table.campaigns").wait_for()
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    assert await page.evaluate(overflow) <= 0  # the wide table scrolls inside its box
    await page.screenshot(path=tmp_path / "phone-campaigns.png", full_page=True)
    await page.get_by_role("link", name="Spring sale").click()
    await page.locator("svg.chart").wait_for()
    assert await page.evaluate(overflow) <= 0
    box = await page.locator("svg.chart").bounding_box()
    assert box is not None and box["width"] <= 390
    await page.screenshot(path=tmp_path / "phone-campaign.png", full_page=True)
