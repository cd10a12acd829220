"""What every handler needs: settings, pools, Redis, sessions, throttle, HTTP client, the
response cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from services.dashboard_api.cache import VersionedCache
from services.dashboard_api.sessions import SessionStore
from services.dashboard_api.settings import DashboardSettings
from services.dashboard_api.throttle import Throttle
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
    # answers of the metric routes, and decoded rollup day blocks, by data version
    cache: VersionedCache = field(default_factory=lambda: VersionedCache(0))
    blocks: VersionedCache = field(default_factory=lambda: VersionedCache(0))


APP_CONTEXT = web.AppKey("dashboard_context", AppContext)
# Per request: the presented token, a token to set, a cookie to clear.
TOKEN = web.RequestKey("token", str)
NEW_TOKEN = web.RequestKey("new_token", str)
CLEAR_COOKIE = web.RequestKey("clear_cookie", bool)
# The data version a metric request reads (the one its cache key and ETag hold).
DATA_VERSION = web.RequestKey("data_version", int)
