"""What every handler needs: settings, pools, Redis, sessions, throttle, HTTP client, the
caches and their warm-up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from pyroaring import BitMap64
from redis.asyncio import Redis

from services.dashboard_api.cache import JoinedRead, JoinedReads, VersionedCache
from services.dashboard_api.queries import fetch_data_version, fetch_user_by_id
from services.dashboard_api.sessions import Session, SessionStore
from services.dashboard_api.settings import DashboardSettings
from services.dashboard_api.throttle import Throttle
from services.dashboard_api.warmup import Warmer
from shared.networks import IPNetwork
from shared.rollups import decode_ids
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
    # the decoded id sets of the buckets summaries add up (``rollup_metrics.id_set_cache``)
    id_sets: Callable[[bytes], BitMap64] = decode_ids
    warmer: Warmer | None = None  # the block cache's warm-up, when it runs
    # (data version, when bumped): ``queries.fetch_data_version``, one read per arrival wave
    versions: JoinedRead[tuple[int, datetime | None]] = field(init=False)
    # a token's session and a user's row as they are now (the per-request session check),
    # one read per arrival wave of the same token or user
    session_reads: JoinedReads[str, Session | None] = field(init=False)
    user_reads: JoinedReads[int, dict[str, Any] | None] = field(init=False)

    def __post_init__(self) -> None:
        self.versions = JoinedRead(lambda: fetch_data_version(self.warehouse))
        self.session_reads = JoinedReads(self.sessions.get)
        self.user_reads = JoinedReads(lambda user_id: fetch_user_by_id(self.source, user_id))


APP_CONTEXT = web.AppKey("dashboard_context", AppContext)
# Per request: the presented token, a token to set, a cookie to clear.
TOKEN = web.RequestKey("token", str)
NEW_TOKEN = web.RequestKey("new_token", str)
CLEAR_COOKIE = web.RequestKey("clear_cookie", bool)
# The data version a metric request reads (the one its cache key and ETag hold).
DATA_VERSION = web.RequestKey("data_version", int)
