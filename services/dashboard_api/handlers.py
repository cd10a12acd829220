"""The API's route handlers. Each gets the request and the checked session (None on public
routes) and returns a pydantic model; ``api.py`` does the auth, validation and JSON."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import BaseModel

from services import SERVICES
from services.dashboard_api import models as m
from services.dashboard_api import queries
from services.dashboard_api.context import CLEAR_COOKIE, NEW_TOKEN, TOKEN, AppContext
from services.dashboard_api.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Throttled,
    Unauthorized,
    UpstreamError,
)
from services.dashboard_api.passwords import DUMMY_HASH, verify_django_hash
from services.dashboard_api.sessions import Session
from shared.errors import describe
from shared.heartbeat import read_service_status
from shared.logging import get_logger

log = get_logger("forklift.dashboard_api")

INT64_MAX = 2**63 - 1
LOGIN_FAILED = "invalid username or password"


def path_int(request: Any, name: str) -> int:
    value = int(request.match_info[name])
    if not 0 < value <= INT64_MAX:
        raise BadRequest(f"{name} must be between 1 and {INT64_MAX}", name)
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_range(ctx: AppContext, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC (naive means UTC); start < end and at most max_span_days long."""
    start, end = _utc(start), _utc(end)
    if start >= end:
        raise BadRequest("start must be before end", "start")
    if end - start > timedelta(days=ctx.settings.max_span_days):
        raise BadRequest(f"[start, end) may span at most {ctx.settings.max_span_days} days", "end")
    return start, end


async def health(request: Any, session: Session | None, ctx: AppContext, **_: Any) -> BaseModel:
    checks = {}
    for name, probe in (
        ("warehouse", ctx.warehouse.fetchval("SELECT 1")),
        ("redis", ctx.redis.ping()),
    ):
        try:
            await asyncio.wait_for(probe, ctx.core.network_timeout_s)
            checks[name] = True
        except Exception as e:  # noqa: BLE001 - a failed dependency is reported, not raised
            log.warning("dashboard.health.failed", dependency=name, error=describe(e))
            checks[name] = False
    return m.Health(status="ok" if all(checks.values()) else "degraded", checks=checks)


async def login(
    request: Any, session: Session | None, ctx: AppContext, body: m.LoginRequest, **_: Any
) -> BaseModel:
    keys = (f"user:{body.username.lower()}", f"ip:{request.remote}")
    if await ctx.throttle.blocked(*keys):
        raise Throttled("too many failed logins: try again later")
    row = await queries.fetch_login(ctx.source, body.username)
    encoded = row["password"] if row else DUMMY_HASH
    ok = await asyncio.to_thread(
        verify_django_hash, body.password, encoded, ctx.settings.max_iterations
    )
    if not (ok and row and row["is_active"]):
        await ctx.throttle.fail(*keys)
        log.info("dashboard.login.failed", ip=request.remote)
        raise Unauthorized(LOGIN_FAILED)
    await ctx.throttle.clear(keys[0])
    clients = (
        ()
        if row["is_superuser"]
        else tuple(await queries.fetch_user_clients(ctx.source, row["id"]))
    )
    new = Session(row["id"], body.username, bool(row["is_superuser"]), clients)
    token = await ctx.sessions.create(new)
    log.info("dashboard.login.ok", user_id=new.user_id)
    request[NEW_TOKEN] = token
    return m.LoginResponse(
        token=token, username=new.username, is_superuser=new.is_superuser, client_ids=list(clients)
    )


async def logout(request: Any, session: Session | None, ctx: AppContext, **_: Any) -> BaseModel:
    await ctx.sessions.revoke(request[TOKEN])
    request[CLEAR_COOKIE] = True
    return m.OkResponse()


async def clients(request: Any, session: Session | None, ctx: AppContext, **_: Any) -> BaseModel:
    rows = await queries.fetch_clients(ctx.warehouse)
    return m.ClientList(clients=[m.Client(**dict(r)) for r in rows])


def _client_for(session: Session, client_id: int | None) -> int:
    """The client a request may read: its own (or one of its own), any for a superuser."""
    if session.is_superuser:
        if client_id is None:
            raise BadRequest("client_id is required for a superuser", "client_id")
        return client_id
    if client_id is None and session.client_ids:
        return session.client_ids[0]
    if client_id not in session.client_ids:
        raise NotFound("no such client")
    return client_id


async def campaigns(
    request: Any, session: Session, ctx: AppContext, query: m.CampaignsQuery, **_: Any
) -> BaseModel:
    start, end = check_range(ctx, query.start, query.end)
    client_id = _client_for(session, query.client_id)
    rows = await queries.fetch_root_campaigns(ctx.warehouse, client_id)
    roots = [r["campaign_id"] for r in rows]
    metrics = await queries.fetch_metrics(ctx.warehouse, roots, start, end, "root")
    return m.CampaignList(
        client_id=client_id,
        start=start,
        end=end,
        campaigns=[
            m.CampaignSummary(
                campaign_id=r["campaign_id"],
                name=r["name"],
                metrics=m.Metrics(**metrics[r["campaign_id"]]),
            )
            for r in rows
        ],
    )


async def series(
    request: Any, session: Session, ctx: AppContext, query: m.SeriesQuery, **_: Any
) -> BaseModel:
    start, end = check_range(ctx, query.start, query.end)
    campaign_id = path_int(request, "campaign_id")
    client_id = await queries.fetch_campaign_client(ctx.warehouse, campaign_id)
    if client_id is None or not (session.is_superuser or client_id in session.client_ids):
        raise NotFound("no such campaign", "campaign_id")
    metrics = await queries.fetch_metrics(
        ctx.warehouse, [campaign_id], start, end, query.granularity
    )
    points = [
        m.SeriesPoint(start=key, metrics=m.Metrics(**values))
        for key, values in sorted(metrics.items())
    ]
    return m.Series(
        campaign_id=campaign_id, granularity=query.granularity, start=start, end=end, points=points
    )


async def edgeplorer(request: Any, session: Session, ctx: AppContext, **_: Any) -> BaseModel:
    fbid = path_int(request, "fbid")
    return m.Edgeplorer(fbid=fbid, **await queries.fetch_edgeplorer(ctx.warehouse, fbid))


async def internal_events(
    request: Any, session: Session, ctx: AppContext, query: m.SinceQuery, **_: Any
) -> BaseModel:
    since = _utc(query.since)
    rows = await queries.fetch_event_counts(ctx.warehouse, since)
    return m.EventCounts(since=since, counts=[m.EventCount(**dict(r)) for r in rows])


async def web_daily(
    request: Any, session: Session, ctx: AppContext, query: m.RangeQuery, **_: Any
) -> BaseModel:
    start, end = check_range(ctx, query.start, query.end)
    site = request.match_info["site"]
    rows = await queries.fetch_web_daily(ctx.warehouse, site, start, end)
    return m.WebDaily(site=site, days=[m.WebDay(**dict(r)) for r in rows])


async def ops_status(request: Any, session: Session, ctx: AppContext, **_: Any) -> BaseModel:
    statuses = await read_service_status(ctx.redis, SERVICES)
    return m.OpsStatus(services=[m.ServiceState(**s.as_dict()) for s in statuses])


async def energy(request: Any, session: Session, ctx: AppContext, **_: Any) -> BaseModel:
    cloud_id = request.match_info["cloud_id"]
    if not ctx.settings.rainforest_url or ctx.http is None:
        raise UpstreamError(
            "the rainforest API is not configured (FORKLIFT_DASHBOARD_RAINFOREST_URL)"
        )
    token = (
        ctx.settings.rainforest_token.get_secret_value() if ctx.settings.rainforest_token else ""
    )
    url = f"{ctx.settings.rainforest_url.rstrip('/')}/api/user/{cloud_id}"
    try:
        async with ctx.http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status in (400, 404):
                raise NotFound("no such rainforest user", "cloud_id")
            if resp.status != 200:
                raise UpstreamError(f"rainforest API answered {resp.status}")
            user = await resp.json()
    except (aiohttp.ClientError, TimeoutError) as e:
        raise UpstreamError(f"rainforest API unreachable: {type(e).__name__}") from e
    return m.Energy(cloud_id=cloud_id, user=user)


def superuser_only(session: Session) -> None:
    if not session.is_superuser:
        raise Forbidden("superusers only")
