"""Which days a log file's lines fall on, so that files are picked by the days they hold
and never by upload time: the warehouse index ``piwik_file_days`` (exact once a file was
read whole), a date in the key (a site's ``key_date``), or a probe of the file's first
and last lines, remembered in the index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import asyncpg

from services.piwik.formats import DIRECTIVE, FormatSpec, UnknownFormat, line_parser, resolve

__all__ = ["DaySpan", "probe_span", "load_span", "store_span", "PROBE_LINES"]

PROBE_LINES = 200  # lines read at each end of a file by a probe


@dataclass(frozen=True)
class DaySpan:
    """The first and last day of a file's lines (None: it has no dated line); ``exact``
    when the whole file was read, else an estimate."""

    first: date | None
    last: date | None
    exact: bool

    def days(self, wanted: list[date]) -> list[date]:
        """The ``wanted`` days the file may hold."""
        if self.first is None or self.last is None:
            return []
        return [d for d in wanted if self.first <= d <= self.last]


def _first_day(
    spec: FormatSpec, lines: list[str], timezone: ZoneInfo, fields: str | None
) -> date | None:
    parser = line_parser(spec, fields)
    for number, line in enumerate(lines, 1):
        hit = parser.parse(line, number)
        if hit is not None and hit is not DIRECTIVE:
            return hit.time.astimezone(timezone).date()
    return None


def probe_span(
    spec: FormatSpec, head: list[str], tail: list[str], timezone: ZoneInfo
) -> DaySpan | None:
    """The span between the first dated line of ``head`` and the last of ``tail`` (the
    first and last lines of a file), or None when neither has one."""
    try:
        concrete = resolve(spec, head)
    except UnknownFormat:
        return None
    first = _first_day(concrete, head, timezone, None)
    fields = None
    for line in head + tail:
        if line.startswith("#Fields:"):
            fields = line
    last = None
    for end in range(len(tail), 0, -1):  # the last line with a time
        last = _first_day(concrete, tail[end - 1 : end], timezone, fields)
        if last is not None:
            break
    if first is None and last is None:
        return None
    return DaySpan(first or last, last or first, exact=False)


async def load_span(pool: asyncpg.Pool, site: str, key: str, etag: str) -> DaySpan | None:
    """The index's span of a file, or None when the file was never read or probed."""
    row = await pool.fetchrow(
        "SELECT first_day, last_day, exact FROM piwik_file_days"
        " WHERE site = $1 AND s3_key = $2 AND etag = $3",
        site,
        key,
        etag,
    )
    return DaySpan(row["first_day"], row["last_day"], row["exact"]) if row else None


async def store_span(pool: asyncpg.Pool, site: str, key: str, etag: str, span: DaySpan) -> None:
    """Remember a file's span (an exact one is never replaced by an estimate)."""
    await pool.execute(
        "INSERT INTO piwik_file_days (site, s3_key, etag, first_day, last_day, exact)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (site, s3_key, etag) DO UPDATE"
        " SET first_day = $4, last_day = $5, exact = $6, updated_at = now()"
        " WHERE $6 OR NOT piwik_file_days.exact",
        site,
        key,
        etag,
        span.first,
        span.last,
        span.exact,
    )
