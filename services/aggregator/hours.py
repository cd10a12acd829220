"""Hours to aggregate: parsing, the ``queue`` command's plan, batches of hours, job ids
(no I/O; all UTC)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from services.aggregator.errors import BadRequest
from shared.facts import FACT_TABLES, FactTable, fact_table

__all__ = [
    "HOUR",
    "parse_hour",
    "parse_date",
    "parse_bound",
    "floor_hour",
    "plan_hours",
    "hour_number",
    "batches",
    "job_id",
    "tables",
]

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    """The UTC hour start containing ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_hour(text: str) -> datetime:
    """``2026-11-20T14`` or any ISO-8601 time (naive = UTC) -> that UTC hour start."""
    try:
        if len(text) < 13:  # a bare date is not an hour
            raise ValueError(text)
        moment = datetime.fromisoformat(text + ":00" if len(text) == 13 else text)
    except ValueError:
        raise BadRequest(f"malformed hour {text!r}: expected YYYY-MM-DDTHH") from None
    return floor_hour(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{option}: malformed date {text!r}: expected YYYY-MM-DD") from None


def parse_bound(text: str, option: str) -> datetime:
    """A range bound: ``YYYY-MM-DD`` (its midnight) or an hour as :func:`parse_hour` reads."""
    if len(text) == 10:
        return _midnight(parse_date(text, option))
    try:
        return parse_hour(text)
    except BadRequest:
        raise BadRequest(
            f"{option}: malformed {text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH"
        ) from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _range(start: datetime, end: datetime) -> list[datetime]:
    count = int((end - start) / HOUR)
    return [start + i * HOUR for i in range(count)]


def plan_hours(
    now: datetime,
    days_back: int | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> list[datetime]:
    """The hours ``forklift aggregate queue`` covers, oldest first.

    Default: the previous and the current hour. ``days_back`` N: the N*24 hours ending with
    the current hour. ``start_date`` [``end_date``, exclusive; default: up to the current
    hour]. Contradictory or future dates raise :class:`BadRequest`.
    """
    current = floor_hour(now)
    today = current.date()
    if days_back is not None and (start_date or end_date):
        raise BadRequest("--days-back cannot be combined with --start-date/--end-date")
    if end_date is not None and start_date is None:
        raise BadRequest("--end-date needs --start-date")
    if days_back is not None:
        if days_back < 1:
            raise BadRequest(f"--days-back must be at least 1, got {days_back}")
        return _range(current - (days_back * 24 - 1) * HOUR, current + HOUR)
    if start_date is None:
        return [current - HOUR, current]
    if start_date > today:
        raise BadRequest(f"--start-date {start_date} is in the future (today is {today} UTC)")
    if end_date is None:
        return _range(_midnight(start_date), current + HOUR)
    if end_date <= start_date:
        raise BadRequest(f"--end-date {end_date} must be after --start-date {start_date}")
    if end_date > today + timedelta(days=1):
        raise BadRequest(f"--end-date {end_date} is in the future (today is {today} UTC)")
    return _range(_midnight(start_date), min(_midnight(end_date), current + HOUR))


def hour_number(hour: datetime) -> int:
    """Hours since 1970-01-01T00 UTC."""
    return int(hour.timestamp()) // 3600


def batches(hours: Iterable[datetime], batch_hours: int) -> list[tuple[datetime, datetime]]:
    """``hours`` as [start, end) ranges, oldest first: runs of consecutive hours, cut where
    the hour number is a multiple of ``batch_hours`` (24: at UTC midnights), so the same
    hours always make the same batches."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour and hour_number(hour) % batch_hours:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def job_id(table: FactTable, start: datetime, end: datetime) -> str:
    """``aggregate:<slug>:<YYYY-MM-DDTHH>`` for one hour, ``aggregate:<slug>:<start>..<end>``
    for a longer range: duplicates of a queued (table, range) collapse."""
    first = f"aggregate:{table.slug}:{start.astimezone(UTC):%Y-%m-%dT%H}"
    return first if end - start == HOUR else f"{first}..{end.astimezone(UTC):%Y-%m-%dT%H}"


def tables(slug: str | None) -> tuple[FactTable, ...]:
    """Every fact table, or the one named (slug or table name)."""
    if slug is None:
        return FACT_TABLES
    try:
        return (fact_table(slug),)
    except KeyError:
        names = ", ".join(t.slug for t in FACT_TABLES)
        raise BadRequest(f"unknown fact table {slug!r} (one of: {names})") from None
