"""The per-day figures ``stats`` reads from the ledger: each imported file counted on the
days its lines belong to, with that day's share of its bytes and lines."""

from __future__ import annotations

from datetime import date

import asyncpg

__all__ = ["day_figures"]


async def day_figures(pool: asyncpg.Pool, site: str, start: date, end: date) -> list[dict]:
    """Per day from ``start`` to ``end`` inclusive: files, bytes, lines, hits, bad lines
    of the files imported (status done) with lines on that day."""
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
