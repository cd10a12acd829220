"""What ``forklift demo`` hands each service's demo hooks: the running stack's addresses,
clients to seed data with, and the check result type."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from shared.aws import AwsConfig
from shared.settings import CoreSettings
from shared.source import SourceDatabase

__all__ = ["DemoContext", "CheckResult"]


@dataclass
class DemoContext:
    """The stack a demo runs on (embedded or configured servers) and open clients to it."""

    core: CoreSettings
    source: SourceDatabase  # Postgres or MySQL
    warehouse: asyncpg.Pool
    redis: Redis
    aws: AwsConfig
    data_dir: Path
    eagle_url: str
    matomo_url: str
    # Environment variables a service adds for every supervised process.
    env: dict[str, str] = field(default_factory=dict)
    # Base URL of each HTTP service in this demo, e.g. {"dashboard_api": "http://127.0.0.1:8080"}.
    api_urls: dict[str, str] = field(default_factory=dict)


@dataclass
class CheckResult:
    """One service's verdict in ``forklift demo --check``."""

    service: str
    ok: bool
    produced: int
    detail: str
    # Waiting cannot help (the detail then names the fix): the check stops at once.
    fatal: bool = False


# Logins the demo seeds into the source's Django auth tables (printed by `forklift demo`).
DEMO_SUPERUSER = ("admin", "forklift-admin")
DEMO_CLIENT_USERS = {
    # username: (password, client_id)
    "acme": ("forklift-acme", 1),
    "globex": ("forklift-globex", 2),
    "initech": ("forklift-initech", 3),
}
DEMO_MATOMO_TOKEN = "forklift-demo-matomo"
DEMO_EAGLE_DEVICES = 50
