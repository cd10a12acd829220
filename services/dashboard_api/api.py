"""The dashboard_api aiohttp app: middlewares (request id, errors, auth), the routes of
:mod:`services.dashboard_api.routes` and the web pages of :mod:`services.dashboard_api.pages`,
served by ``forklift serve dashboard_api``.

Errors are always ``{"error": {"code", "message", "field"?}}``; no stack trace reaches a
client. Auth: ``Authorization: Bearer <token>`` or the ``forklift_session`` cookie
(HttpOnly, SameSite=Strict) from ``POST /api/login``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from services.dashboard_api import handlers
from services.dashboard_api.context import (
    APP_CONTEXT,
    CLEAR_COOKIE,
    NEW_TOKEN,
    SESSION,
    TOKEN,
    AppContext,
)
from services.dashboard_api.errors import BadRequest, DashboardError, NotFound, Unauthorized
from services.dashboard_api.pages import add_page_routes
from services.dashboard_api.routes import ROUTES, RouteSpec, aiohttp_path, openapi_document
from services.dashboard_api.sessions import SessionStore, Throttle
from services.dashboard_api.settings import DashboardSettings
from shared.db import create_pool
from shared.logging import get_logger
from shared.settings import CoreSettings
from shared.source import open_source

__all__ = ["settings_cls", "create_app"]

settings_cls = DashboardSettings
log = get_logger("forklift.dashboard_api.api")
COOKIE = "forklift_session"
MAX_BODY_BYTES = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response({"error": body}, status=status)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request_id = (
        given
        if 0 < len(given) <= 64 and given.isascii() and given.isprintable()
        else uuid.uuid4().hex
    )
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await handler(request)
        log.info(
            "dashboard.request", method=request.method, path=request.path, status=response.status
        )
    response.headers["X-Request-Id"] = request_id
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one catch-all: known errors to their 4xx/5xx, anything else to a logged 500."""
    try:
        return await handler(request)
    except DashboardError as e:
        return error_response(e.status, e.code, e.message, e.field)
    except web.HTTPException as e:
        return error_response(e.status, "http", e.reason)
    except Exception as e:  # noqa: BLE001 - the API's single catch-all
        log.exception("dashboard.api.error", path=request.path, error=str(e))
        return error_response(500, "internal", "internal error")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the session of the bearer token or cookie, if any: ``request[SESSION]``."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else request.cookies.get(COOKIE, "")
    request[TOKEN] = token
    request[SESSION] = await request.app[APP_CONTEXT].sessions.get(token) if token else None
    return await handler(request)


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
            raw = await request.read()
            inputs["body"] = spec.body.model_validate_json(raw or b"null")
    except ValidationError as e:
        raise _first_error(e, "body") from None
    return inputs


def _dispatch(spec: RouteSpec) -> Handler:
    func = getattr(handlers, spec.handler)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        session = request[SESSION]
        if spec.access != "public" and session is None:
            raise Unauthorized("login required")
        if spec.access == "superuser":
            handlers.superuser_only(session)
        inputs = await _inputs(request, spec)
        result: BaseModel = await func(request, session, request.app[APP_CONTEXT], **inputs)
        response = web.json_response(text=result.model_dump_json())
        if NEW_TOKEN in request:
            response.set_cookie(
                COOKIE, request[NEW_TOKEN], httponly=True, samesite="Strict", path="/api"
            )
        if request.get(CLEAR_COOKIE):
            response.del_cookie(COOKIE, path="/api")
        return response

    return dispatch


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(text=json.dumps(openapi_document()))


async def not_found(request: web.Request) -> web.Response:
    raise NotFound(f"no route {request.method} {request.path}")


async def _open(app: web.Application, core: CoreSettings, settings: DashboardSettings) -> None:
    core.require("source_dsn", "warehouse_dsn", "redis_url")
    secret = settings.secret()
    source = await open_source(core.source_dsn, name="source", max_size=4, command_timeout_s=30)
    warehouse = await create_pool(
        core.warehouse_dsn,
        name="warehouse",
        max_size=core.db_pool_max_size,
        command_timeout_s=30,
        custom_plans=True,
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
        Throttle(redis, settings.login_max_failures, settings.login_window_s),
        http,
    )


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
    """The app with its pools open (closed on cleanup). ``background`` is unused: the
    dashboard has no background tasks."""
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, auth_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    await _open(app, core, settings)
    app.on_cleanup.append(_close)
    for spec in ROUTES:
        app.router.add_route(spec.method, aiohttp_path(spec), _dispatch(spec))
    app.router.add_get("/api/openapi.json", openapi)
    add_page_routes(app)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
