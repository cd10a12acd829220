"""Day arithmetic for the commands: parsing date arguments, ranges, a site's yesterday."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.piwik.errors import BadDate

__all__ = ["parse_day", "day_range", "yesterday"]

MAX_RANGE_DAYS = 3660


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` -> date; BadDate (exit 2) otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadDate(f"malformed date {text!r}: expected YYYY-MM-DD, e.g. 2026-11-20") from None


def day_range(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end`` inclusive."""
    if end < start:
        raise BadDate(f"the range ends ({end}) before it starts ({start})")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise BadDate(f"a range is at most {MAX_RANGE_DAYS} days")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def yesterday(timezone: ZoneInfo, now_utc: datetime) -> date:
    """The day before ``now_utc``'s day in ``timezone``."""
    return now_utc.astimezone(timezone).date() - timedelta(days=1)
