"""The API's route handlers. Each gets the request and the checked session (None on public
routes) and returns a pydantic model; ``api.py`` does the auth, validation and JSON."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel

from services import SERVICES
from services.dashboard_api import models as m
from services.dashboard_api import queries
from services.dashboard_api.context import (
    CLEAR_COOKIE,
    DATA_VERSION,
    NEW_TOKEN,
    TOKEN,
    AppContext,
)
from services.dashboard_api.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Throttled,
    Unauthorized,
    UpstreamError,
)
from services.dashboard_api.passwords import usable, verify_django_hash
from services.dashboard_api.rollup_metrics import (
    DayBlock,
    series_points,
    summarize,
    summary_plan,
    with_points,
)
from services.dashboard_api.sessions import Session
from services.dashboard_api.throttle import client_address
from shared.errors import describe
from shared.heartbeat import read_service_status
from shared.logging import get_logger
from shared.rollups import Grain

log = get_logger("forklift.dashboard_api")

LOGIN_FAILED = "invalid username or password"
# The one rainforest route the energy proxy reads (GET, no side effect).
RAINFOREST_USER_ROUTE = "/api/user/{cloud_id}"
RAINFOREST_MAX_BYTES = 1024 * 1024


def path_int(request: Any, name: str) -> int:
    raw = request.match_info[name]
    if not re.fullmatch(r"[0-9]{1,19}", raw) or not 0 < int(raw) <= m.INT64_MAX:
        raise BadRequest(f"{name} must be an integer between 1 and {m.INT64_MAX}", name)
    return int(raw)


def path_text(request: Any, name: str, pattern: str) -> str:
    """A path parameter that must fullmatch its documented ``pattern``."""
    value = request.match_info[name]
    if not re.fullmatch(pattern, value):
        raise BadRequest(f"{name} must match {pattern}", name)
    return value


_GRAIN_TEXT = {
    "hour": "a whole UTC hour (e.g. 2026-11-20T10:00:00Z)",
    "day": "a UTC midnight (a date, or e.g. 2026-11-20T00:00:00Z)",
}


def on_grain(moment: datetime, grain: Grain) -> bool:
    """Whether UTC ``moment`` starts a UTC hour (or day)."""
    whole_hour = moment.minute == 0 and moment.second == 0 and moment.microsecond == 0
    return whole_hour and (grain == "hour" or moment.hour == 0)


def check_range(
    ctx: AppContext, start: datetime, end: datetime, grain: Grain
) -> tuple[datetime, datetime]:
    """[start, end) (UTC already: offsets are converted, never dropped): both bounds on
    ``grain`` (400 naming the bound otherwise: nothing is rounded), start < end, at most
    max_span_days long."""
    for name, moment in (("start", start), ("end", end)):
        if not on_grain(moment, grain):
            raise BadRequest(
                f"{name} must be {_GRAIN_TEXT[grain]}: {moment.isoformat()} is not", name
            )
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
    """Counted by the throttle before the hash; unknown users, other hashers and inactive
    users cost one hash of the configured iteration count and get the same 401."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    address = client_address(request.remote, forwarded, ctx.proxies)
    refused = await ctx.throttle.attempt(body.username, address)
    if refused is not None:
        log.info("dashboard.login.throttled", ip=address)
        raise Throttled("too many failed logins: try again later", refused.retry_after_s)
    row = await queries.fetch_user_by_name(ctx.source, body.username)
    stored = row["password"] if row is not None else ""
    real = usable(stored, ctx.settings.max_iterations)
    ok = await asyncio.to_thread(
        verify_django_hash,
        body.password,
        stored if real else ctx.dummy_hash,
        ctx.settings.max_iterations,
    )
    if not (ok and real and row["is_active"]):
        log.info("dashboard.login.failed", ip=address)
        raise Unauthorized(LOGIN_FAILED)
    await ctx.throttle.succeeded(body.username, address)
    clients = () if row["is_superuser"] else tuple(row["client_ids"])
    new = Session(
        row["id"],
        row["username"],
        bool(row["is_superuser"]),
        clients,
        ctx.sessions.password_fingerprint(stored),
    )
    token = await ctx.sessions.create(new)
    log.info("dashboard.login.ok", user_id=new.user_id)
    request[NEW_TOKEN] = token
    return m.LoginResponse(
        token=token, username=new.username, is_superuser=new.is_superuser, client_ids=list(clients)
    )


async def logout(request: Any, session: Session, ctx: AppContext, **_: Any) -> BaseModel:
    await ctx.sessions.revoke(request[TOKEN], session.username)
    request[CLEAR_COOKIE] = True
    return m.OkResponse()


async def clients(request: Any, session: Session | None, ctx: AppContext, **_: Any) -> BaseModel:
    rows = await queries.fetch_clients(ctx.warehouse)
    return m.ClientList(clients=[m.Client(**dict(r)) for r in rows])


async def _client_for(ctx: AppContext, session: Session, client_id: int | None) -> int:
    """The client a request may read: its own (or one of its own), any for a superuser;
    without ``client_id`` the first (lowest id) of those."""
    if session.is_superuser:
        if client_id is not None:
            return client_id
        clients = await queries.fetch_clients(ctx.warehouse)
        if not clients:
            raise NotFound("no clients yet", "client_id")
        return clients[0]["client_id"]
    if client_id is None and session.client_ids:
        return session.client_ids[0]
    if client_id not in session.client_ids:
        raise NotFound("no such client", "client_id")
    return client_id


async def campaigns(
    request: Any, session: Session, ctx: AppContext, query: m.CampaignsQuery, **_: Any
) -> BaseModel:
    start, end = check_range(ctx, query.start, query.end, "hour")
    client_id = await _client_for(ctx, session, query.client_id)
    rows = await queries.fetch_root_campaigns(ctx.warehouse, client_id)
    roots = [r["campaign_id"] for r in rows]
    metrics = await _summaries(request, ctx, roots, start, end)
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


async def _version(request: Any, ctx: AppContext) -> int:
    """The data version the request reads (the one its cache key and ETag hold)."""
    version = request.get(DATA_VERSION)
    if version is None:
        version, _ = await ctx.versions.get()
    return version


async def _blocks(
    request: Any, ctx: AppContext, roots: list[int], start: datetime, end: datetime
) -> dict[int, list[DayBlock]]:
    """The roots' rollup blocks over [start, end), of the data version the request reads."""
    version = await _version(request, ctx)
    return await queries.fetch_blocks(ctx.warehouse, ctx.blocks, version, roots, start, end)


async def _summaries(
    request: Any, ctx: AppContext, roots: list[int], start: datetime, end: datetime
) -> dict[int, dict[str, int]]:
    """Each root's 8 metrics over the whole hours [start, end), exact."""
    plan = summary_plan(start, end)
    blocks = await _blocks(request, ctx, roots, start, end)
    return {root: summarize(blocks[root], plan, ctx.id_sets) for root in roots}


async def _root_campaign(request: Any, ctx: AppContext, session: Session, campaign_id: int) -> Any:
    """The campaign's row if it is a root campaign the session may read; a child campaign
    is 404 with a message naming its root (whose figures include the child's). The row is
    kept by data version, as the answers that passed this check are."""
    version = await _version(request, ctx)
    row = ctx.campaigns.get(version, campaign_id)
    if row is None:
        row = await queries.fetch_campaign(ctx.warehouse, campaign_id)
        if row is not None:
            ctx.campaigns.put(version, campaign_id, row)
    if row is None or not (session.is_superuser or row["client_id"] in session.client_ids):
        raise NotFound("no such campaign", "campaign_id")
    root = row["root_campaign_id"]
    if root is None:
        raise NotFound(f"campaign {campaign_id} has no campaign properties: no root", "campaign_id")
    if root != campaign_id:
        raise NotFound(
            f"campaign {campaign_id} is not a root campaign: its figures are part of root"
            f" campaign {root}, ask /api/campaigns/{root}",
            "campaign_id",
        )
    return row


async def campaign(
    request: Any, session: Session, ctx: AppContext, query: m.RangeQuery, **_: Any
) -> BaseModel:
    start, end = check_range(ctx, query.start, query.end, "hour")
    campaign_id = path_int(request, "campaign_id")
    row = await _root_campaign(request, ctx, session, campaign_id)
    metrics = await _summaries(request, ctx, [campaign_id], start, end)
    return m.Campaign(
        campaign_id=campaign_id,
        name=row["name"],
        client_id=row["client_id"],
        start=start,
        end=end,
        metrics=m.Metrics(**metrics[campaign_id]),
    )


async def series(
    request: Any, session: Session, ctx: AppContext, query: m.SeriesQuery, **_: Any
) -> m.RawJson:
    start, end = check_range(ctx, query.start, query.end, query.granularity)
    campaign_id = path_int(request, "campaign_id")
    await _root_campaign(request, ctx, session, campaign_id)
    [blocks] = (await _blocks(request, ctx, [campaign_id], start, end)).values()
    points = series_points(blocks, start, end, query.granularity)
    empty = m.Series(
        campaign_id=campaign_id, granularity=query.granularity, start=start, end=end, points=[]
    )
    return m.RawJson(with_points(empty.model_dump_json(), points))


async def edgeplorer(request: Any, session: Session, ctx: AppContext, **_: Any) -> BaseModel:
    fbid = path_int(request, "fbid")
    return m.Edgeplorer(fbid=fbid, **await queries.fetch_edgeplorer(ctx.warehouse, fbid))


async def internal_events(
    request: Any, session: Session, ctx: AppContext, query: m.SinceQuery, **_: Any
) -> BaseModel:
    rows = await queries.fetch_event_counts(ctx.warehouse, query.since)
    return m.EventCounts(since=query.since, counts=[m.EventCount(**dict(r)) for r in rows])


async def web_daily(
    request: Any, session: Session, ctx: AppContext, query: m.RangeQuery, **_: Any
) -> BaseModel:
    start, end = check_range(ctx, query.start, query.end, "day")
    site = path_text(request, "site", m.SITE_PATTERN)
    if not await queries.site_known(ctx.warehouse, site):
        raise NotFound(f"no such site: {site} was never imported", "site")
    rows = await queries.fetch_web_daily(ctx.warehouse, site, start, end)
    return m.WebDaily(site=site, start=start, end=end, days=[m.WebDay(**dict(r)) for r in rows])


async def ops_status(request: Any, session: Session, ctx: AppContext, **_: Any) -> BaseModel:
    statuses = await read_service_status(ctx.redis, SERVICES)
    return m.OpsStatus(services=[m.ServiceState(**s.as_dict()) for s in statuses])


async def energy(request: Any, session: Session, ctx: AppContext, **_: Any) -> BaseModel:
    """The rainforest user document of a validated, URL-encoded cloud id: only
    :data:`RAINFOREST_USER_ROUTE` is ever requested, redirects are not followed."""
    cloud_id = path_text(request, "cloud_id", m.CLOUD_ID_PATTERN)
    if not ctx.settings.rainforest_url or ctx.http is None:
        raise UpstreamError(
            "the rainforest API is not configured (FORKLIFT_DASHBOARD_RAINFOREST_URL)"
        )
    token = (
        ctx.settings.rainforest_token.get_secret_value() if ctx.settings.rainforest_token else ""
    )
    path = RAINFOREST_USER_ROUTE.format(cloud_id=quote(cloud_id, safe=""))
    url = ctx.settings.rainforest_url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        async with ctx.http.get(url, headers=headers, allow_redirects=False) as resp:
            if resp.status == 404:
                raise NotFound("no such rainforest user", "cloud_id")
            if resp.status != 200:
                raise UpstreamError(f"rainforest API answered {resp.status}")
            raw = await resp.content.read(RAINFOREST_MAX_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as e:
        raise UpstreamError(f"rainforest API unreachable: {type(e).__name__}") from e
    try:
        user = json.loads(raw) if len(raw) <= RAINFOREST_MAX_BYTES else None
    except (ValueError, RecursionError):
        user = None
    if not isinstance(user, dict):
        raise UpstreamError("rainforest API answered something that is not a user document")
    return m.Energy(cloud_id=cloud_id, user=user)


def superuser_only(session: Session) -> None:
    if not session.is_superuser:
        raise Forbidden("superusers only")
