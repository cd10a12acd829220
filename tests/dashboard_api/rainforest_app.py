"""The real rainforest API (no poller) for the dashboard's energy route."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from cryptography.fernet import Fernet

from services.rainforest import api as rainforest_api
from services.rainforest.settings import RainforestSettings
from shared.settings import CoreSettings

RAINFOREST_TOKEN = "dashboard-test-token"
USER = {"user_email": "energy@example.org", "user_pw": "gateway-secret", "adapter": "cloud"}


async def start_rainforest(core: CoreSettings, tmp: Path) -> tuple[web.AppRunner, str]:
    """Serve the rainforest API on a free port; its URL."""
    settings = RainforestSettings(
        api_token=RAINFOREST_TOKEN,
        encryption_key=Fernet.generate_key().decode(),
        log_dir=tmp / "rainforest-logs",
        _env_file=None,
    )
    runner = web.AppRunner(await rainforest_api.create_app(core, settings, background=False))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
