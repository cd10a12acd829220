"""The dashboard_api aiohttp app: the shared edge middleware (:mod:`shared.webapi`), auth,
the routes of :mod:`services.dashboard_api.routes` and the web pages of
:mod:`services.dashboard_api.pages`, served by ``forklift serve dashboard_api``.

Errors are always ``{"error": {"code", "message", "field"?}}``; no stack trace reaches a
client. The metric routes (``RouteSpec.cached``) answer from a cache keyed by the data
version the aggregator bumps, with ``ETag``/``Last-Modified`` and ``304`` on
``If-None-Match`` (:mod:`services.dashboard_api.cache`). Auth: ``Authorization: Bearer <token>`` or the ``forklift_session`` cookie
(HttpOnly, SameSite=Strict, Secure unless FORKLIFT_DASHBOARD_COOKIE_SECURE=false, Max-Age the
session TTL) from ``POST /api/login``. Every authenticated request re-reads its user: a
deactivated user, a changed password, superuser flag or group ends the session at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from services.dashboard_api import handlers
from services.dashboard_api import models as m
from services.dashboard_api.cache import (
    VersionedCache,
    cache_key,
    etag,
    etag_matches,
    http_date,
)
from services.dashboard_api.context import (
    APP_CONTEXT,
    CLEAR_COOKIE,
    DATA_VERSION,
    NEW_TOKEN,
    TOKEN,
    AppContext,
)
from services.dashboard_api.errors import BadRequest, Unauthorized
from services.dashboard_api.pages import add_page_routes
from services.dashboard_api.passwords import dummy_hash
from services.dashboard_api.rollup_metrics import id_set_cache
from services.dashboard_api.routes import ROUTES, RouteSpec, openapi_document
from services.dashboard_api.sessions import Session, SessionStore, claimed_user_id, still_valid
from services.dashboard_api.settings import DashboardSettings
from services.dashboard_api.throttle import Throttle
from services.dashboard_api.warmup import Warmer
from shared.db import create_pool
from shared.logging import get_logger
from shared.rollups import DISTINCT_METRICS
from shared.settings import CoreSettings
from shared.source import open_source
from shared.webapi import edge_middleware, read_json, require_json_or_empty

__all__ = ["settings_cls", "create_app", "COOKIE"]

settings_cls = DashboardSettings
log = get_logger("forklift.dashboard_api.api")
COOKIE = "forklift_session"
MAX_BODY_BYTES = 64 * 1024
MAX_TOKEN_CHARS = 256

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The presented token (bearer header, else the cookie), if any: ``request[TOKEN]``."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else request.cookies.get(COOKIE, "")
    request[TOKEN] = token if len(token) <= MAX_TOKEN_CHARS else ""
    return await handler(request)


async def current_session(ctx: AppContext, token: str) -> Session | None:
    """The token's session if its user still is what the session was granted for; a session
    whose user changed (or was deleted) is revoked here. Both are read after the request
    arrived (requests arriving together share the reads: ``cache.JoinedReads``), at once
    when the token names its user (``sessions.claimed_user_id``)."""
    if not token:
        return None
    claimed = claimed_user_id(token)
    user_read = ctx.user_reads.join(claimed) if claimed is not None else None
    session = await ctx.session_reads.get(token)
    if session is None:
        return None
    # a token of an older release (no id), or one naming another user than its session's
    if user_read is None or session.user_id != claimed:
        user_read = ctx.user_reads.join(session.user_id)
    user = await asyncio.shield(user_read)
    fingerprint = ctx.sessions.password_fingerprint(user["password"]) if user else ""
    if still_valid(session, user, fingerprint):
        return session
    await ctx.sessions.revoke(token, session.username)
    log.info("dashboard.session.ended", user_id=session.user_id, reason="account changed")
    return None


def _first_error(e: ValidationError, where: str) -> BadRequest:
    err = e.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or where
    return BadRequest(f"{field}: {err['msg']}", field)


async def _inputs(request: web.Request, spec: RouteSpec) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    try:
        if spec.query is not None:
            inputs["query"] = spec.query.model_validate(dict(request.query))
        if spec.body is not None:
            inputs["body"] = spec.body.model_validate(await read_json(request))
        elif request.method == "POST":
            require_json_or_empty(request)
    except ValidationError as e:
        raise _first_error(e, "body") from None
    return inputs


async def _cached(
    request: web.Request,
    session: Session,
    ctx: AppContext,
    func: Callable[..., Awaitable[BaseModel | m.RawJson]],
    inputs: dict[str, Any],
    version_read: asyncio.Future[tuple[int, datetime | None]],
) -> web.Response:
    """The answer of a metric route from the cache of the data version ``version_read``
    gives (computed and kept on a miss), with its ETag and Last-Modified; 304 when
    If-None-Match holds the ETag. The handler's checks (range, access) ran for every cached
    answer: the key holds the session's scope, and only 200 answers are kept."""
    version, updated = await asyncio.shield(version_read)
    request[DATA_VERSION] = version
    if ctx.warmer is not None:
        ctx.warmer.notice(version)
    key = cache_key(request.method, request.path_qs, session.is_superuser, session.client_ids)
    headers = {"ETag": etag(version, key), "Cache-Control": "private, no-cache"}
    if updated is not None:
        headers["Last-Modified"] = http_date(updated)
    body = ctx.cache.get(version, key)
    if body is None:  # the handler's checks run: a 304 is only ever a valid request's
        result = await func(request, session, ctx, **inputs)
        body = result.body if isinstance(result, m.RawJson) else result.model_dump_json().encode()
        ctx.cache.put(version, key, body)
    if etag_matches(request.headers.get("If-None-Match", ""), headers["ETag"]):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


def _dispatch(spec: RouteSpec) -> Handler:
    func = getattr(handlers, spec.handler)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        ctx = request.app[APP_CONTEXT]
        # a metric route's data version is read beside the session and its user, not after
        # them: one round trip less for every answer (a request refused meanwhile drops it)
        version_read = ctx.versions.join() if spec.cached else None
        session = None
        if spec.access != "public":
            session = await current_session(ctx, request[TOKEN])
            if session is None:
                raise Unauthorized("login required")
            if spec.access == "superuser":
                handlers.superuser_only(session)
        inputs = await _inputs(request, spec)
        if version_read is not None:
            assert session is not None, spec
            response = await _cached(request, session, ctx, func, inputs, version_read)
        else:
            result: BaseModel | m.RawJson = await func(request, session, ctx, **inputs)
            response = web.json_response(text=result.model_dump_json())
        settings = ctx.settings
        if NEW_TOKEN in request:
            response.set_cookie(
                COOKIE,
                request[NEW_TOKEN],
                httponly=True,
                samesite="Strict",
                path="/api",
                secure=settings.cookie_secure,
                max_age=settings.session_ttl_s,
            )
        if request.get(CLEAR_COOKIE):
            response.del_cookie(
                COOKIE, path="/api", secure=settings.cookie_secure, httponly=True, samesite="Strict"
            )
        return response

    return dispatch


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(text=json.dumps(openapi_document()))


async def _open(app: web.Application, core: CoreSettings, settings: DashboardSettings) -> None:
    core.require("source_dsn", "warehouse_dsn", "redis_url")
    secret = settings.secret()
    # the API only reads, outside transactions: no session state to reset on release
    source = await open_source(
        core.source_dsn, name="source", max_size=4, command_timeout_s=30, reset_sessions=False
    )
    # every warehouse connection opened now: a burst of requests after a start does not
    # wait for connections being opened
    warehouse = await create_pool(
        core.warehouse_dsn,
        name="warehouse",
        max_size=core.db_pool_max_size,
        min_size=core.db_pool_max_size,
        command_timeout_s=30,
        custom_plans=True,
        reset_sessions=False,
    )
    redis = Redis.from_url(core.redis_url, socket_timeout=core.network_timeout_s)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s))
    app[APP_CONTEXT] = AppContext(
        core,
        settings,
        source,
        warehouse,
        redis,
        SessionStore(redis, secret, settings.session_ttl_s),
        Throttle(redis, settings.throttle_limits()),
        http,
        await asyncio.to_thread(dummy_hash, settings.password_iterations),
        settings.proxies(),
        VersionedCache(settings.cache_entries, max_bytes=settings.cache_mb * 2**20),
        VersionedCache(settings.block_cache_days),
        VersionedCache(settings.cache_entries),
        # room for the daily sets of every cached day and the hourly ones of a few hours
        id_sets=id_set_cache(settings.block_cache_days * len(DISTINCT_METRICS) * 4),
    )


async def _warm(app: web.Application) -> AsyncIterator[None]:
    """Runs the block cache's warm-up (:mod:`services.dashboard_api.warmup`) while serving."""
    ctx = app[APP_CONTEXT]
    settings = ctx.settings
    ctx.warmer = Warmer(
        ctx.warehouse, ctx.blocks, ctx.campaigns, settings.warm_days, settings.warm_pause_s
    )
    task = asyncio.create_task(ctx.warmer.run(), name="dashboard-warmup")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close(app: web.Application) -> None:
    ctx = app[APP_CONTEXT]
    if ctx.http is not None:
        await ctx.http.close()
    await ctx.redis.aclose()
    await ctx.source.close()
    await ctx.warehouse.close()


async def create_app(
    core: CoreSettings, settings: DashboardSettings, background: bool = True
) -> web.Application:
    """The app with its pools open (closed on cleanup); with ``background``, the block
    cache's warm-up runs while it serves."""
    app = web.Application(
        middlewares=[edge_middleware("dashboard_api"), auth_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    await _open(app, core, settings)
    app.on_cleanup.append(_close)
    if background:
        app.cleanup_ctx.append(_warm)
    for spec in ROUTES:
        app.router.add_route(spec.method, spec.path, _dispatch(spec))
    app.router.add_get("/api/openapi.json", openapi)
    add_page_routes(app)
    return app
