"""Pydantic models of the API's requests and responses; the OpenAPI document is built from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=4096)


class LoginResponse(BaseModel):
    token: str
    username: str
    is_superuser: bool
    client_ids: list[int]


class OkResponse(BaseModel):
    ok: bool = True


class Client(BaseModel):
    client_id: int
    name: str | None


class ClientList(BaseModel):
    clients: list[Client]


class Metrics(BaseModel):
    visits: int
    clicks: int
    auths: int
    uniq_auths: int
    shown: int
    shares: int
    audience: int
    clickbacks: int


class CampaignSummary(BaseModel):
    campaign_id: int
    name: str | None
    metrics: Metrics


class CampaignList(BaseModel):
    client_id: int
    start: datetime
    end: datetime
    campaigns: list[CampaignSummary]


class SeriesPoint(BaseModel):
    start: datetime
    metrics: Metrics


class Series(BaseModel):
    campaign_id: int
    granularity: Literal["hour", "day"]
    start: datetime
    end: datetime
    points: list[SeriesPoint]


class Edgeplorer(BaseModel):
    fbid: int
    user: dict[str, Any] | None
    events: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class EventCount(BaseModel):
    type: str
    hour: datetime
    campaign_id: int | None
    count: int


class EventCounts(BaseModel):
    since: datetime
    counts: list[EventCount]


class WebDay(BaseModel):
    day: date
    hits: int
    visitors: int


class WebDaily(BaseModel):
    site: str
    days: list[WebDay]


class ServiceState(BaseModel):
    service: str
    alive: bool
    processes: list[dict[str, Any]]
    last_ok: float | None
    last_failed: float | None
    last_error: str | None
    lag_s: float | None
    jobs_ok: int
    jobs_failed: int
    counters: dict[str, int]
    queue_depth: int


class OpsStatus(BaseModel):
    services: list[ServiceState]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, bool]


class Energy(BaseModel):
    cloud_id: str
    user: dict[str, Any]


# Query parameters (validated from the query string).
class RangeQuery(BaseModel):
    start: datetime
    end: datetime


class CampaignsQuery(RangeQuery):
    client_id: int | None = Field(None, ge=1, le=2**63 - 1)


class SeriesQuery(RangeQuery):
    granularity: Literal["hour", "day"] = "hour"


class SinceQuery(BaseModel):
    since: datetime
