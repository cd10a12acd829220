"""The API end to end against real Postgres and Redis: login, scoping, metrics, validation."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from services.dashboard_api.models import Series
from tests.clock import iso_z
from tests.dashboard_api.conftest import T0, login

DAY = timedelta(days=1)
RANGE = {"start": iso_z(T0), "end": iso_z(T0 + DAY)}
LOGIN_FAILED = {"code": "unauthorized", "message": "invalid username or password"}


async def test_login_sets_httponly_cookie_and_logout_revokes(client: TestClient) -> None:
    resp = await client.post("/api/login", json={"username": "acme", "password": "acme-pw"})
    body = await resp.json()
    assert resp.status == 200 and body["client_ids"] == [1] and not body["is_superuser"]
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/api" in cookie
    cookie_session = {"Cookie": f"forklift_session={body['token']}"}
    resp = await client.get("/api/campaigns", params=RANGE, headers=cookie_session)
    assert resp.status == 200
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.post("/api/logout", headers=headers)).status == 200
    resp = await client.get("/api/campaigns", params=RANGE, headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("username", "password"),
    [("acme", "wrong"), ("nobody", "acme-pw"), ("gone", "gone-pw"), ("ACME", "acme-pw")],
)
async def test_bad_logins_share_one_message(
    client: TestClient, username: str, password: str
) -> None:
    resp = await client.post("/api/login", json={"username": username, "password": password})
    assert resp.status == 401
    assert (await resp.json()) == {"error": LOGIN_FAILED}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "acme"}, "password"),
        ({"username": "", "password": "x"}, "username"),
        ("notjson", "body"),
    ],
)
async def test_login_validation(client: TestClient, body: object, field: str) -> None:
    data = body if isinstance(body, str) else None
    headers = {"Content-Type": "application/json"} if data else None
    resp = await client.post("/api/login", json=None if data else body, data=data, headers=headers)
    err = (await resp.json())["error"]
    assert resp.status == 400 and err["code"] == "bad_request" and err["field"] == field


async def test_client_user_sees_only_its_campaigns(client: TestClient) -> None:
    headers = await login(client, "acme")
    resp = await client.get("/api/campaigns", params=RANGE, headers=headers)
    body = await resp.json()
    assert body["client_id"] == 1
    assert [c["campaign_id"] for c in body["campaigns"]] == [10, 12]
    resp = await client.get("/api/campaigns", params={**RANGE, "client_id": "2"}, headers=headers)
    assert resp.status == 404
    for cid in (20, 999):
        resp = await client.get(f"/api/campaigns/{cid}/series", params=RANGE, headers=headers)
        assert resp.status == 404 and "metrics" not in await resp.text()


@pytest.mark.parametrize(
    "path",
    [
        "/api/clients",
        "/api/edgeplorer/7000",
        f"/api/internal/events?since={iso_z(T0)}",
        f"/api/web/www.example.org/daily?start={T0.date()}&end={(T0 + DAY).date()}",
        "/api/ops/status",
        "/api/energy/abc",
    ],
)
async def test_superuser_routes(client: TestClient, path: str) -> None:
    assert (await client.get(path)).status == 401
    resp = await client.get(path, headers=await login(client, "acme"))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
    resp = await client.get(path, headers=await login(client, "admin"))
    assert resp.status in (200, 502), await resp.text()  # energy: no rainforest configured -> 502


INDEPENDENT_SQL = """
WITH r AS (SELECT campaign_id FROM campaign_properties WHERE root_campaign_id = $1)
SELECT
 (SELECT count(DISTINCT visit_id) FROM visit_facts_hourly WHERE visit_ids > 0 AND campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS visits,
 (SELECT coalesce(sum(clicks), 0) FROM misc_facts_hourly WHERE campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS clicks,
 (SELECT coalesce(sum(authorizations), 0) FROM misc_facts_hourly WHERE campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS auths,
 (SELECT count(DISTINCT fbid) FROM fbid_facts_hourly WHERE fbids_authorized > 0 AND campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS uniq_auths,
 (SELECT count(DISTINCT fbid) FROM fbid_facts_hourly WHERE fbids_shown_friends > 0 AND campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS shown,
 (SELECT count(DISTINCT fbid) FROM fbid_facts_hourly WHERE fbids_shared > 0 AND campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS shares,
 (SELECT count(DISTINCT friend_fbid) FROM friend_fbid_facts_hourly WHERE friends_shared_with > 0 AND campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS audience,
 (SELECT coalesce(sum(clickbacks), 0) FROM misc_facts_hourly WHERE campaign_id IN (SELECT * FROM r) AND hour >= $2 AND hour < $3) AS clickbacks
"""  # noqa: E501


async def test_metrics_equal_independent_sql(client: TestClient, warehouse: asyncpg.Pool) -> None:
    start, end = T0, T0 + DAY
    resp = await client.get("/api/campaigns", params=RANGE, headers=await login(client, "acme"))
    got = {c["campaign_id"]: c["metrics"] for c in (await resp.json())["campaigns"]}
    for root in (10, 12):
        expected = dict(await warehouse.fetchrow(INDEPENDENT_SQL, root, start, end))
        assert got[root] == expected
    assert got[10]["visits"] > 0 and got[10]["clicks"] > 0 and got[12]["clicks"] > 0


async def test_series_hourly_and_daily(client: TestClient) -> None:
    headers = await login(client, "admin")
    params = {"start": iso_z(T0), "end": iso_z(T0 + 2 * DAY)}
    hourly = await (
        await client.get("/api/campaigns/10/series", params=params, headers=headers)
    ).json()
    daily = await (
        await client.get(
            "/api/campaigns/10/series", params={**params, "granularity": "day"}, headers=headers
        )
    ).json()
    hours = [T0 + timedelta(hours=h) for h in (0, 1, 2, 25)]
    for answer in (hourly, daily):  # the points Postgres renders are the model's
        assert Series.model_validate(answer).model_dump(mode="json")["points"] == answer["points"]
    assert [p["start"] for p in hourly["points"]] == [iso_z(h) for h in hours]
    assert [p["start"][:10] for p in daily["points"]] == [str(T0.date()), str((T0 + DAY).date())]
    for name in ("clicks", "auths", "clickbacks"):  # sums add up across granularities
        assert sum(p["metrics"][name] for p in hourly["points"]) == sum(
            p["metrics"][name] for p in daily["points"]
        )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday", "end": str(T0.date())}, "start"),
        ({"start": str((T0 + DAY).date()), "end": str(T0.date())}, "start"),
        ({"start": str(T0.date())}, "end"),
        ({"start": str((T0 - 5 * 365 * DAY).date()), "end": str(T0.date())}, "end"),
        ({**RANGE, "client_id": "abc"}, "client_id"),
        ({**RANGE, "client_id": "0"}, "client_id"),
    ],
)
async def test_validation_errors(client: TestClient, params: dict[str, str], field: str) -> None:
    resp = await client.get("/api/campaigns", params=params, headers=await login(client, "admin"))
    err = (await resp.json())["error"]
    assert resp.status == 400 and err["field"] == field, err


async def test_bad_ids(client: TestClient) -> None:
    headers = await login(client, "admin")
    resp = await client.get("/api/campaigns/abc/series", params=RANGE, headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "campaign_id"
    resp = await client.get(f"/api/campaigns/{2**64}/series", params=RANGE, headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "campaign_id"
    resp = await client.get("/api/edgeplorer/-5", headers=headers)
    assert resp.status == 400


async def test_missing_tables_read_empty(client: TestClient, warehouse: asyncpg.Pool) -> None:
    for table in (
        "users",
        "edges",
        "web_hits",
        "dashboard_rollup_hourly",
        "dashboard_rollup_daily",
        "dashboard_data_version",
    ):
        await warehouse.execute(f"DROP TABLE IF EXISTS {table}")
    headers = await login(client, "admin")
    body = await (await client.get("/api/edgeplorer/7000", headers=headers)).json()
    assert body == {"fbid": 7000, "user": None, "events": [], "edges": []}
    resp = await client.get("/api/web/www.example.org/daily", params=RANGE, headers=headers)
    assert resp.status == 404 and (await resp.json())["error"]["field"] == "site"
    resp = await client.get("/api/campaigns", params={**RANGE, "client_id": "1"}, headers=headers)
    assert [c["metrics"]["visits"] for c in (await resp.json())["campaigns"]] == [0, 0]


async def test_health_ops_and_errors(client: TestClient) -> None:
    resp = await client.get("/api/health")
    assert (await resp.json()) == {"status": "ok", "checks": {"warehouse": True, "redis": True}}
    assert len(resp.headers["X-Request-Id"]) == 32
    resp = await client.get("/api/nope", headers={"X-Request-Id": "abc-1"})
    assert resp.status == 404 and resp.headers["X-Request-Id"] == "abc-1"
    assert (await resp.json())["error"]["code"] == "not_found"
    ops = await (await client.get("/api/ops/status", headers=await login(client, "admin"))).json()
    assert {s["service"] for s in ops["services"]} >= {"sync", "dashboard_api"}


async def test_internal_events_counts(client: TestClient, warehouse: asyncpg.Pool) -> None:
    await warehouse.execute(
        "INSERT INTO events (event_id, visit_id, campaign_id, type, created, updated, event_datetime) "
        "SELECT g, g, 10, 'shown', $1, now(), now() FROM generate_series(1, 3) g",
        T0 + timedelta(hours=5, minutes=10),
    )
    resp = await client.get(
        "/api/internal/events",
        params={"since": iso_z(T0)},
        headers=await login(client, "admin"),
    )
    assert (await resp.json())["counts"] == [
        {"type": "shown", "hour": iso_z(T0 + timedelta(hours=5)), "campaign_id": 10, "count": 3}
    ]
