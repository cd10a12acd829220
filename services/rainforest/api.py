"""The rainforest HTTP API (aiohttp) and, unless ``background=False``, a poller in-process
(one member of the sharded pollers, see ``poller``).

Every route but ``GET /api/health`` and ``GET /api/openapi.json`` needs
``Authorization: Bearer <token>`` (FORKLIFT_RAINFOREST_API_TOKEN, a comma-separated list
allowed): 401 without, 403 with a wrong token. Errors have the shared shape
``{"error": {"code", "message", "field"}}`` (:mod:`shared.webapi`). No response ever contains
a gateway secret. The OpenAPI document (:mod:`services.rainforest.openapi`) lists every answer.
``GET /api/event`` counts its reading in Redis and leaves the line for the poller holding the
user's shard to write, so a user's file only ever has that one writer.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.rainforest.adapters import fetch_reading, relay_client
from services.rainforest.errors import (
    BadCredentials,
    BadUserInput,
    GatewayError,
    HostNotAllowed,
    UserNotFound,
)
from services.rainforest.models import validate_cloud_id
from services.rainforest.openapi import openapi_document
from services.rainforest.ownership import shard_of
from services.rainforest.poller import Poller, running_poller
from services.rainforest.readings import reading_line
from services.rainforest.relay import RelayClient
from services.rainforest.settings import RainforestSettings
from services.rainforest.users import UserStore
from shared.errors import ConfigError
from shared.heartbeat import Heartbeat
from shared.logging import get_logger
from shared.settings import CoreSettings
from shared.webapi import ApiError, edge_middleware, read_json

__all__ = ["settings_cls", "create_app", "PUBLIC_PATHS"]

settings_cls = RainforestSettings
log = get_logger("forklift.rainforest.api")

STORE = web.AppKey("store", UserStore)
POLLER = web.AppKey("poller", Poller | None)
SESSION = web.AppKey("session", aiohttp.ClientSession)
RELAY = web.AppKey("relay", RelayClient)
SETTINGS = web.AppKey("settings", RainforestSettings)
TOKENS = web.AppKey("tokens", list)
SETTINGS = web.AppKey("settings", RainforestSettings)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HEALTH_PATH = "/api/health"
OPENAPI_PATH = "/api/openapi.json"
PUBLIC_PATHS = frozenset({HEALTH_PATH, OPENAPI_PATH})


def translate(e: Exception) -> ApiError | None:
    """The rainforest errors a request can meet, as answers."""
    if isinstance(e, BadUserInput):
        return ApiError(e.message, e.field, status=400)
    if isinstance(e, UserNotFound):
        return ApiError(str(e), e.field, status=404)
    if isinstance(e, HostNotAllowed):
        return ApiError(str(e), "host", status=403)
    if isinstance(e, BadCredentials):
        return ApiError(f"gateway rejected the credentials: {e}", "user_pw", status=502)
    if isinstance(e, GatewayError):
        return ApiError(f"gateway error: {e}", status=502)
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError("missing bearer token", "Authorization", status=401)
    given = header[7:].strip().encode()
    # compare against every token (no early exit) in constant time
    matches = [hmac.compare_digest(given, token.encode()) for token in request.app[TOKENS]]
    if not any(matches):
        raise ApiError("invalid token", "Authorization", status=403)
    return await handler(request)


def _cloud_id(request: web.Request) -> str:
    return validate_cloud_id(request.match_info["cloud_id"])


async def post_user(request: web.Request) -> web.Response:
    cloud_id = _cloud_id(request)
    body: Any = await read_json(request)
    user = await request.app[STORE].upsert(cloud_id, body, request.app[SETTINGS].networks)
    return web.json_response(user)


async def get_user(request: web.Request) -> web.Response:
    return web.json_response(await request.app[STORE].public(_cloud_id(request)))


async def delete_user(request: web.Request) -> web.Response:
    cloud_id = _cloud_id(request)
    await request.app[STORE].delete(cloud_id)
    return web.json_response({"deleted": cloud_id})


async def list_users(request: web.Request) -> web.Response:
    users = await request.app[STORE].summaries()
    return web.json_response({"users": users, "count": len(users)})


async def health(request: web.Request) -> web.Response:
    """Liveness for load balancers and compose: 200 when Redis answers, else 503."""
    try:
        await request.app[STORE].redis.ping()
    except (RedisError, OSError) as e:
        log.warning("rainforest.health.redis_down", error=str(e))
        return web.json_response({"status": "unavailable", "redis": "unavailable"}, status=503)
    poller = request.app[POLLER]
    return web.json_response(
        {
            "status": "ok",
            "redis": "ok",
            "poller": "running" if poller is not None and poller.running else "off",
            "poller_id": poller.member if poller is not None else None,
            "users_polled": poller.users_polled if poller is not None else 0,
        }
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(text=json.dumps(openapi_document()))


async def get_event(request: web.Request) -> web.Response:
    """Fetch a reading now, count it (unless a duplicate) and return it; the user's poller
    writes its line at its next flush."""
    store, settings = request.app[STORE], request.app[SETTINGS]
    cloud_id = _cloud_id(request)
    raw = await store.raw(cloud_id)
    if not raw:
        raise UserNotFound(f"no user {cloud_id}")
    gateway = store.gateway(raw)
    try:
        reading = await fetch_reading(
            request.app[SESSION],
            request.app[RELAY],
            gateway,
            settings.request_timeout_s,
            settings.networks,
        )
    except BadCredentials as e:
        await store.set_status(cloud_id, "auth_failed", str(e))
        raise
    await store.record_remote(reading, reading_line(reading), shard_of(cloud_id, settings.shards))
    return web.json_response(reading)


async def create_app(
    core: CoreSettings, settings: RainforestSettings, background: bool = True
) -> web.Application:
    """The API app; its startup hook opens Redis, the HTTP session and the log writer, and
    starts the poller when ``background``; the cleanup hook closes them in reverse."""
    core.require("redis_url")
    tokens = settings.tokens()
    if not tokens:
        raise ConfigError("FORKLIFT_RAINFOREST_API_TOKEN is not set")
    fernet = settings.fernet()
    app = web.Application(
        middlewares=[edge_middleware("rainforest", translate), auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[TOKENS] = tokens
    app[SETTINGS] = settings

    async def clients(app: web.Application) -> Any:
        redis = Redis.from_url(core.redis_url or "", socket_timeout=core.network_timeout_s)
        connector = aiohttp.TCPConnector(limit=settings.concurrency, ttl_dns_cache=300)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(redis.aclose)
            session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
            relay = relay_client(settings.relay_url, settings.concurrency)
            stack.callback(relay.close)
            store = UserStore(redis, fernet)
            app[STORE], app[SESSION], app[RELAY], app[POLLER] = store, session, relay, None
            if background:
                # counts readings on the heartbeat record `forklift serve` keeps for this process
                heartbeat = Heartbeat(redis, "rainforest")
                app[POLLER] = await stack.enter_async_context(
                    running_poller(core, settings, store, session, heartbeat, relay=relay)
                )
            yield

    app.cleanup_ctx.append(clients)
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get(OPENAPI_PATH, openapi)
    app.router.add_get("/api/users", list_users)
    app.router.add_post("/api/user/{cloud_id}", post_user)
    app.router.add_get("/api/user/{cloud_id}", get_user)
    app.router.add_delete("/api/user/{cloud_id}", delete_user)
    app.router.add_get("/api/event/{cloud_id}", get_event)
    return app
