"""``/api/energy/{cloud_id}`` against the real rainforest API."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from services.dashboard_api.api import create_app
from shared.settings import CoreSettings
from tests.dashboard_api.conftest import dashboard_settings, login
from tests.dashboard_api.rainforest_app import RAINFOREST_TOKEN, USER, start_rainforest


async def test_energy_reads_rainforest_user(seeded: CoreSettings, tmp_path: Path) -> None:
    runner, url = await start_rainforest(seeded, tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.post(
                f"{url}/api/user/000123",
                json=USER,
                headers={"Authorization": f"Bearer {RAINFOREST_TOKEN}"},
            )
            assert resp.status == 200, await resp.text()
        settings = dashboard_settings(rainforest_url=url, rainforest_token=RAINFOREST_TOKEN)
        async with TestClient(TestServer(await create_app(seeded, settings))) as client:
            headers = await login(client, "admin")
            resp = await client.get("/api/energy/000123", headers=headers)
            body = await resp.json()
            assert resp.status == 200, body
            assert body["cloud_id"] == "000123" and body["user"]["user_email"] == USER["user_email"]
            assert "gateway-secret" not in await resp.text()
            resp = await client.get("/api/energy/000999", headers=headers)
            assert resp.status == 404 and (await resp.json())["error"]["field"] == "cloud_id"
        bad = dashboard_settings(rainforest_url=url, rainforest_token="wrong")
        async with TestClient(TestServer(await create_app(seeded, bad))) as client:
            resp = await client.get("/api/energy/000123", headers=await login(client, "admin"))
            assert resp.status == 502 and (await resp.json())["error"]["code"] == "upstream"
    finally:
        await runner.cleanup()
