"""The rainforest API against real Redis and the simulator: auth, validation, secrets, events."""

import json

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from services.rainforest import api
from services.rainforest.ownership import shard_of
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import device_credentials
from shared.embedded import free_port
from shared.settings import CoreSettings
from tests.rainforest.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTRACT_FIELDS = {
    "cloud_id", "user_email", "adapter", "active", "status", "status_detail",
    "total_events_logged", "first_timestamp", "last_timestamp", "last_reading", "recent_readings",
}  # fmt: skip


def cloud_body(index: int) -> dict:
    _, user, secret = device_credentials(index)
    return {"user_email": user, "user_pw": secret, "adapter": "cloud"}


async def test_auth_required_on_every_route(client: TestClient) -> None:
    for method, path in [("GET", "/api/users"), ("GET", "/api/user/000001"),
                         ("POST", "/api/user/000001"), ("DELETE", "/api/user/000001"),
                         ("GET", "/api/event/000001")]:  # fmt: skip
        response = await client.request(method, path)
        assert response.status == 401, path
        assert (await response.json())["error"]["field"] == "Authorization"
        response = await client.request(method, path, headers={"Authorization": "Bearer nope"})
        assert response.status == 403, path
    second = {"Authorization": "Bearer other-token"}
    assert (await client.get("/api/users", headers=second)).status == 200


async def test_health_needs_no_token_and_reports_redis(client: TestClient) -> None:
    response = await client.get("/api/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["redis"] == "ok"
    assert body["poller"] == "off"  # the fixture's app runs without the poller


async def test_health_is_503_when_redis_is_down(
    core: CoreSettings, settings: RainforestSettings
) -> None:
    down = core.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = await api.create_app(down, settings, background=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        response = await test_client.get("/api/health")
        assert response.status == 503
        assert (await response.json())["status"] == "unavailable"


async def test_create_get_event_update_delete(client: TestClient, redis: Redis) -> None:
    cloud_id, _, secret = device_credentials(7)
    response = await client.post(f"/api/user/{cloud_id}", json=cloud_body(7), headers=AUTH)
    assert response.status == 200
    user = await response.json()
    assert set(user) >= CONTRACT_FIELDS and "user_pw" not in user and "secret" not in user
    assert user["cloud_id"] == "000007" and user["status"] == "pending" and user["active"]

    raw = await redis.hgetall("rainforest:user:000007")
    assert secret.encode() not in b"".join(list(raw.keys()) + list(raw.values()))

    event = await (await client.get(f"/api/event/{cloud_id}", headers=AUTH)).json()
    assert event["cloud_id"] == "000007" and event["source"] == "cloud"
    assert event["meter_mac"] == "0x00135003007c0007" and isinstance(event["demand_kw"], float)

    # an update keeps counters and never echoes the secret
    response = await client.post(f"/api/user/{cloud_id}", json={"active": False}, headers=AUTH)
    user = await response.json()
    assert user["total_events_logged"] == 1 and user["last_reading"] == event
    assert user["recent_readings"] == [event] and not user["active"]
    # no poller runs here: the line waits in Redis for the poller holding the user's shard
    shard = shard_of("000007", 1024)
    assert [
        json.loads(line) for line in await redis.lrange(f"rainforest:inbox:{shard}", 0, -1)
    ] == [event]
    assert secret not in await response.text()

    listing = await (await client.get("/api/users", headers=AUTH)).json()
    assert [u["cloud_id"] for u in listing["users"]] == ["000007"] and listing["count"] == 1
    assert listing["users"][0]["last_reading"] == event
    assert "recent_readings" not in listing["users"][0]

    assert (await client.delete(f"/api/user/{cloud_id}", headers=AUTH)).status == 200
    assert (await client.get(f"/api/user/{cloud_id}", headers=AUTH)).status == 404
    assert (await client.delete(f"/api/user/{cloud_id}", headers=AUTH)).status == 404


async def test_validation_errors_name_the_field(client: TestClient) -> None:
    cases = [
        ("/api/user/xyz!", cloud_body(1), "cloud_id", 400),
        ("/api/user/000001", {"user_email": "a@b.org"}, "user_pw", 404),  # no user to update
        ("/api/user/000001", {**cloud_body(1), "user_email": "nope"}, "user_email", 400),
        ("/api/user/000001", {**cloud_body(1), "adapter": "zigbee"}, "adapter", 400),
        ("/api/user/000001", {**cloud_body(1), "adapter": "eagle200"}, "host", 400),
        ("/api/user/000001", {**cloud_body(1), "active": "yes"}, "active", 400),
        ("/api/user/000001", {**cloud_body(1), "colour": "red"}, "colour", 400),
        ("/api/user/000001", [1, 2], "body", 400),
    ]
    for path, body, field, status in cases:
        response = await client.post(path, json=body, headers=AUTH)
        assert response.status == status, (path, body)
        assert (await response.json())["error"]["field"] == field
    json_type = {**AUTH, "Content-Type": "application/json"}
    response = await client.post("/api/user/000001", data="{not json", headers=json_type)
    assert (await response.json())["error"]["field"] == "body"
    response = await client.post("/api/user/000001", data="x" * 100_000, headers=json_type)
    assert response.status == 413


async def test_bad_credentials_and_eagle200(client: TestClient, simulator) -> None:
    body = {**cloud_body(3), "user_pw": "wrong"}
    await client.post("/api/user/000003", json=body, headers=AUTH)
    response = await client.get("/api/event/000003", headers=AUTH)
    assert response.status == 502 and (await response.json())["error"]["field"] == "user_pw"
    user = await (await client.get("/api/user/000003", headers=AUTH)).json()
    assert user["status"] == "auth_failed"

    _, user_email, secret = device_credentials(4)
    body = {"user_email": user_email, "user_pw": secret, "adapter": "eagle200",
            "host": f"127.0.0.1:{simulator.port}"}  # fmt: skip
    assert (await client.post("/api/user/000004", json=body, headers=AUTH)).status == 200
    event = await (await client.get("/api/event/000004", headers=AUTH)).json()
    assert event["source"] == "eagle200" and event["summation_delivered_kwh"] > 10_000
