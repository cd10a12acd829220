"""What every handler needs: settings, pools, Redis, sessions, throttle, HTTP client, the
caches and their warm-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from services.dashboard_api.cache import JoinedRead, VersionedCache
from services.dashboard_api.queries import fetch_data_version
from services.dashboard_api.sessions import SessionStore
from services.dashboard_api.settings import DashboardSettings
from services.dashboard_api.throttle import Throttle
from services.dashboard_api.warmup import Warmer
from shared.networks import IPNetwork
from shared.settings import CoreSettings
from shared.source import SourceDatabase

__all__ = ["AppContext", "APP_CONTEXT", "TOKEN", "NEW_TOKEN", "CLEAR_COOKIE", "DATA_VERSION"]


@dataclass
class AppContext:
    core: CoreSettings
    settings: DashboardSettings
    source: SourceDatabase  # Django's auth tables: Postgres or MySQL
    warehouse: asyncpg.Pool
    redis: Redis
    sessions: SessionStore
    throttle: Throttle
    http: aiohttp.ClientSession | None
    # verified for unknown users: the configured iteration count, so they cost the same
    dummy_hash: str
    proxies: tuple[IPNetwork, ...] = ()
    # answers of the metric routes, decoded rollup day blocks and campaign rows, by data
    # version
    cache: VersionedCache = field(default_factory=lambda: VersionedCache(0))
    blocks: VersionedCache = field(default_factory=lambda: VersionedCache(0))
    campaigns: VersionedCache = field(default_factory=lambda: VersionedCache(0))
    warmer: Warmer | None = None  # the block cache's warm-up, when it runs
    # (data version, when bumped): ``queries.fetch_data_version``, one read per arrival wave
    versions: JoinedRead[tuple[int, datetime | None]] = field(init=False)

    def __post_init__(self) -> None:
        self.versions = JoinedRead(lambda: fetch_data_version(self.warehouse))


APP_CONTEXT = web.AppKey("dashboard_context", AppContext)
# Per request: the presented token, a token to set, a cookie to clear.
TOKEN = web.RequestKey("token", str)
NEW_TOKEN = web.RequestKey("new_token", str)
CLEAR_COOKIE = web.RequestKey("clear_cookie", bool)
# The data version a metric request reads (the one its cache key and ETag hold).
DATA_VERSION = web.RequestKey("data_version", int)
