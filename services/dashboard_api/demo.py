"""The dashboard_api service in ``forklift demo``: the API server, its settings, and a check
that logins work, the demo client sees only its campaigns, and its metrics match SQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import aiohttp

from services import SERVERS
from services.dashboard_api.queries import fetch_metrics, fetch_root_campaigns
from services.demo_data import DJANGO_ITERATIONS
from shared.demo import DEMO_CLIENT_USERS, CheckResult, DemoContext

PROCESSES: tuple[tuple[str, ...], ...] = (("serve", "dashboard_api"),)
BASE_URL = f"http://127.0.0.1:{SERVERS['dashboard_api']}"
DEMO_USER = "acme"
# Login answers that waiting cannot change, and what to do about them.
FATAL_LOGIN_ANSWERS = {
    401: "its password in the source's auth_user was changed; start from a fresh data dir"
    " (rm -rf .forklift) to reseed it",
    429: "too many failed logins from this address; the throttle lets it in again after"
    " the Retry-After seconds of the answer (at most FORKLIFT_DASHBOARD_LOGIN_WINDOW_S)",
}


async def seed(demo: DemoContext) -> None:
    """Settings for the server: a session secret kept in the data dir, the rainforest API."""
    path = demo.data_dir / "dashboard_api" / "session.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    demo.env["FORKLIFT_DASHBOARD_SESSION_SECRET"] = path.read_text().strip()
    # the demo serves plain HTTP on 127.0.0.1; its users' hashes have the demo's iterations
    demo.env["FORKLIFT_DASHBOARD_COOKIE_SECURE"] = "false"
    demo.env["FORKLIFT_DASHBOARD_PASSWORD_ITERATIONS"] = str(DJANGO_ITERATIONS)
    demo.env["FORKLIFT_DASHBOARD_RAINFOREST_URL"] = demo.api_urls.get(
        "rainforest", f"http://127.0.0.1:{SERVERS['rainforest']}"
    )
    token = demo.env.get("FORKLIFT_RAINFOREST_API_TOKEN", "").split(",")[0]
    if token:
        demo.env["FORKLIFT_DASHBOARD_RAINFOREST_TOKEN"] = token


async def check(demo: DemoContext) -> CheckResult:
    """One login and two reads; the demo client's campaigns and metrics against SQL."""
    password, client_id = DEMO_CLIENT_USERS[DEMO_USER]
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=8)
    params = {"start": start.isoformat(), "end": end.isoformat()}
    base_url = demo.api_urls.get("dashboard_api", BASE_URL)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            login = {"username": DEMO_USER, "password": password}
            async with http.post(f"{base_url}/api/login", json=login) as resp:
                if resp.status in FATAL_LOGIN_ANSWERS:
                    detail = (
                        f"login of {DEMO_USER!r} answered {resp.status}: "
                        + FATAL_LOGIN_ANSWERS[resp.status]
                    )
                    return CheckResult("dashboard_api", False, 0, detail, fatal=True)
                if resp.status != 200:
                    return CheckResult("dashboard_api", False, 0, f"login answered {resp.status}")
                headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
            async with http.get(f"{base_url}/api/clients", headers=headers) as resp:
                if resp.status != 403:
                    return CheckResult(
                        "dashboard_api", False, 0, "client user reached /api/clients"
                    )
            async with http.get(
                f"{base_url}/api/campaigns", params=params, headers=headers
            ) as resp:
                body = await resp.json()
    except (aiohttp.ClientError, TimeoutError) as e:
        return CheckResult("dashboard_api", False, 0, f"API not reachable yet: {type(e).__name__}")
    return await _compare(demo, client_id, body, start, end)


async def _compare(
    demo: DemoContext, client_id: int, body: dict, start: datetime, end: datetime
) -> CheckResult:
    roots = [r["campaign_id"] for r in await fetch_root_campaigns(demo.warehouse, client_id)]
    got = {c["campaign_id"]: c["metrics"] for c in body.get("campaigns", [])}
    if sorted(got) != roots:
        return CheckResult("dashboard_api", False, 0, f"campaigns {sorted(got)} != {roots}")
    expected = await fetch_metrics(demo.warehouse, roots, start, end, "root")
    if any(got[root] != expected[root] for root in roots):
        return CheckResult("dashboard_api", False, 0, "metrics differ from SQL")
    visits = sum(m["visits"] for m in got.values())
    if visits == 0:
        return CheckResult("dashboard_api", False, 0, "no visits yet (facts not aggregated)")
    return CheckResult("dashboard_api", True, visits, f"{len(roots)} campaigns, {visits} visits")
