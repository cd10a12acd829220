"""``web_hits`` loading and the per-day figures ``stats`` reads from the ledger."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from services.piwik.hits import Hit
from services.piwik.schema import WEB_HITS_COLUMNS
from services.piwik.tracking import visitor_key

__all__ = ["load_web_hits", "day_figures"]


async def load_web_hits(
    conn: asyncpg.Connection,
    site: str,
    s3_key: str,
    bounds_utc: tuple[datetime, datetime],
    hits: list[Hit],
) -> None:
    """Replace the file's hits of one day (idempotent per file and day), by COPY."""
    await conn.execute(
        "DELETE FROM web_hits WHERE site = $1 AND s3_key = $2 AND hit_time >= $3 AND hit_time < $4",
        site,
        s3_key,
        *bounds_utc,
    )
    records = (
        (
            site,
            h.time,
            h.ip,
            h.method,
            h.path,
            h.status,
            h.size_bytes,
            h.referrer,
            h.user_agent,
            visitor_key(h),
            s3_key,
            h.line_no,
        )
        for h in hits
    )
    await conn.copy_records_to_table("web_hits", records=records, columns=WEB_HITS_COLUMNS)


async def day_figures(pool: asyncpg.Pool, site: str, start: date, end: date) -> list[dict]:
    """Per day from ``start`` to ``end`` inclusive: files, bytes, lines, hits, bad lines
    of the files imported (status done)."""
    rows = await pool.fetch(
        "SELECT d::date AS day, count(l.s3_key) AS files, coalesce(sum(l.size_bytes), 0) AS bytes,"
        " coalesce(sum(l.lines), 0) AS lines, coalesce(sum(l.hits), 0) AS hits,"
        " coalesce(sum(l.bad_lines), 0) AS bad_lines"
        " FROM generate_series($2::date, $3::date, interval '1 day') AS d"
        " LEFT JOIN piwik_ledger l ON l.day = d::date AND l.site = $1 AND l.status = 'done'"
        " GROUP BY d ORDER BY d",
        site,
        start,
        end,
    )
    return [dict(r) for r in rows]
