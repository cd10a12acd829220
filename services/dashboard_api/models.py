"""Pydantic models of the API's requests and responses; the OpenAPI document is built from them.

Inputs are parsed exactly as their JSON Schema says (a fuzzer holding the document finds no
value the schema allows but the API refuses, nor the reverse): integers are digits only,
times are RFC 3339 date-times or full dates (midnight UTC), text holds no control characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from services.rainforest.models import CLOUD_ID_PATTERN
from shared.webapi import ErrorBody, ErrorResponse

__all__ = [
    "ErrorBody",
    "ErrorResponse",
    "INT64_MAX",
    "CLOUD_ID_PATTERN",
    "SITE_PATTERN",
    "parse_instant",
]

INT64_MAX = 2**63 - 1
SITE_PATTERN = "[A-Za-z0-9._-]{1,253}"  # a piwik site name (a host name)
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
_DIGITS = re.compile(r"-?[0-9]{1,20}")
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 date-time (what JSON Schema's "date-time" format means): offset required.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
_UTC_MIN = datetime.min.replace(tzinfo=UTC)
_UTC_MAX = datetime.max.replace(tzinfo=UTC)


def _strict_int(value: Any) -> Any:
    """Query and path integers are digits (an optional minus), nothing else."""
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be an integer (digits only)")
        return int(value)
    return value


def parse_instant(value: Any) -> datetime:
    """An RFC 3339 date-time, or a full date meaning its midnight UTC, as an aware UTC
    datetime. A time whose UTC equivalent falls outside years 1-9999 is clamped to the
    nearest representable instant (no data lies beyond either end)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time or a date")
    if _FULL_DATE.fullmatch(value):
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if _DATE_TIME.fullmatch(value) is None:
        raise ValueError("must be an RFC 3339 date-time (with Z or an offset) or a date")
    parsed = datetime.fromisoformat(value.upper())
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return _UTC_MIN if parsed.year == 1 else _UTC_MAX


# A warehouse id: positive int64. ``Id`` parses it from a query string (digits only).
PositiveId = Annotated[int, Field(ge=1, le=INT64_MAX)]
Id = Annotated[PositiveId, BeforeValidator(_strict_int)]
Instant = Annotated[
    datetime,
    BeforeValidator(parse_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
            ]
        }
    ),
]


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150, pattern=NO_CONTROL)
    password: str = Field(min_length=1, max_length=4096)


class LoginResponse(BaseModel):
    token: str
    username: str
    is_superuser: bool
    client_ids: list[PositiveId]


class OkResponse(BaseModel):
    ok: bool = True


class Client(BaseModel):
    client_id: PositiveId
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
    campaign_id: PositiveId
    name: str | None
    metrics: Metrics


class Campaign(CampaignSummary):
    """One root campaign's metrics over [start, end)."""

    client_id: PositiveId
    start: datetime
    end: datetime


class CampaignList(BaseModel):
    client_id: PositiveId
    start: datetime
    end: datetime
    campaigns: list[CampaignSummary]


class SeriesPoint(BaseModel):
    start: datetime
    metrics: Metrics


class Series(BaseModel):
    campaign_id: PositiveId
    granularity: Literal["hour", "day"]
    start: datetime
    end: datetime
    points: list[SeriesPoint]


class Edgeplorer(BaseModel):
    fbid: PositiveId
    user: dict[str, Any] | None
    events: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class EventCount(BaseModel):
    type: str
    hour: datetime
    campaign_id: PositiveId | None
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
    start: datetime
    end: datetime
    days: list[WebDay]


class Process(BaseModel):
    """One live process of a service (its heartbeat); times are ISO-8601 UTC."""

    host: str | None
    pid: int
    started: datetime
    last_beat: datetime
    jobs_ok: int
    jobs_failed: int
    counters: dict[str, int]
    info: dict[str, str]


class ServiceState(BaseModel):
    """A service's status; times are ISO-8601 UTC (heartbeats keep Unix seconds)."""

    service: str
    alive: bool
    processes: list[Process]
    last_ok: datetime | None
    last_failed: datetime | None
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


@dataclass(frozen=True)
class RawJson:
    """An answer already rendered as the JSON of its route's response model (by Postgres,
    for large answers); the API sends ``body`` as it is."""

    body: bytes

    def model_dump_json(self) -> str:
        return self.body.decode()


# Query parameters (validated from the query string).
class RangeQuery(BaseModel):
    start: Instant
    end: Instant


class CampaignsQuery(RangeQuery):
    client_id: Id | None = None


class SeriesQuery(RangeQuery):
    granularity: Literal["hour", "day"] = "hour"


class SinceQuery(BaseModel):
    since: Instant
