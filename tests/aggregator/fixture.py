"""The old suite's fixture: campaign 6, hour 2014-02-01 02:00, raw rows in the warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from services.aggregator.runner import load_range
from shared.facts import FACT_TABLES, FactTable

HOUR = datetime(2014, 2, 1, 2, tzinfo=UTC)
INSIDE = datetime(2014, 2, 1, 2, 30, tzinfo=UTC)
OUTSIDE = datetime(2014, 2, 1, 4, tzinfo=UTC)
CAMPAIGN = 6

VISITORS = [(1, "u-fbid4", 4), (2, "u-fbid6", 6), (3, "u-anon", None)]
# visit_id, visitor_id, ip
VISITS = [(10, 1, "127.0.0.1"), (11, 1, "8.8.8.8"), (12, 2, "192.168.1.188"), (13, 3, "10.0.0.9")]
FULL_FUNNEL = ("authorized", "generated", "shown", "faces_page_rendered")
# visit_id, type, friend_fbid
EVENTS = [
    *((10, t, None) for t in FULL_FUNNEL),
    (11, "authorized", None),
    *((12, t, None) for t in FULL_FUNNEL),
    (12, "shared", 999),
    (13, "incoming_redirect", None),
]


async def insert_raw(pool: asyncpg.Pool, first_event_id: int = 1) -> None:
    """The fixture's visitors, visits and events at 02:30, plus a copy of them at 04:00."""
    await pool.executemany(
        "INSERT INTO visitors (visitor_id, uuid, fbid) VALUES ($1, $2, $3)", VISITORS
    )
    await pool.executemany(
        "INSERT INTO visits (visit_id, visitor_id, session_id, app_id, ip)"
        " VALUES ($1, $2, 's', 1, $3)",
        VISITS,
    )
    rows = [
        (first_event_id + i, visit, CAMPAIGN, friend, kind, when)
        for i, (visit, kind, friend, when) in enumerate(
            [(*e, INSIDE) for e in EVENTS] + [(*e, OUTSIDE) for e in EVENTS]
        )
    ]
    await insert_events(pool, rows)


async def insert_events(pool: asyncpg.Pool, rows: list[tuple]) -> None:
    """(event_id, visit_id, campaign_id, friend_fbid, type, created) rows."""
    await pool.executemany(
        "INSERT INTO events (event_id, visit_id, campaign_id, friend_fbid, type, created)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        rows,
    )


async def load_hour(pool: asyncpg.Pool, table: FactTable, hour: datetime) -> int:
    """Load one hour of ``table`` (the worker's code path for a one-hour range)."""
    return await load_range(pool, table, hour, hour + timedelta(hours=1), lock_wait_s=30)


async def mark_stale(
    pool: asyncpg.Pool, hours: Sequence[datetime], tables: Sequence[str] | None = None
) -> None:
    """Outbox rows for ``hours`` of ``tables`` (slugs; default every fact table), as sync
    writes them."""
    slugs = tables or [t.slug for t in FACT_TABLES]
    await pool.executemany(
        "INSERT INTO aggregate_outbox (fact_table, hour, source, run_id)"
        " VALUES ($1, $2, 'sync:events', 'test')",
        [(slug, hour) for hour in hours for slug in slugs],
    )


async def fact_sums(pool: asyncpg.Pool, table: str, hour: datetime) -> dict[str, int]:
    """Every fact column of ``table`` summed over ``hour``'s rows."""
    from services.aggregator.hours import tables

    [definition] = tables(table)
    sums = ", ".join(f'coalesce(sum("{f.name}"), 0)::int AS "{f.name}"' for f in definition.facts)
    row = await pool.fetchrow(
        f'SELECT {sums} FROM "{definition.name}" WHERE hour = $1',  # noqa: S608 test names
        hour,
    )
    return dict(row)


TYPES = sorted({t for table in FACT_TABLES for f in table.facts for t in f.event_types})
_GENERATE_SQL = (
    """
INSERT INTO visitors (visitor_id, uuid, fbid)
SELECT u, md5(u::text), CASE WHEN u % 4 <> 0 THEN 100000000000 + u END
FROM generate_series(1, $1::bigint / 20 + 1) AS u
""",
    """
INSERT INTO visits (visit_id, visitor_id, session_id, app_id, ip)
SELECT v, 1 + v % ($1::bigint / 20 + 1), md5(v::text), 1, '10.' || (v % 250) || '.' || (v % 7)
FROM generate_series(1, $1::bigint / 7 + 1) AS v
""",
    """
INSERT INTO events (event_id, visit_id, campaign_id, friend_fbid, type, created, updated)
SELECT g, 1 + g / 7, 1 + g % 40, CASE WHEN g % 3 = 0 THEN 200000000000 + g % 50000 END,
    ($3::text[])[1 + g % array_length($3::text[], 1)], ts, ts
FROM generate_series(1, $1::bigint) AS g,
    LATERAL (SELECT $2::timestamptz + (g - 1) * ($4::interval / $1::bigint) AS ts) t
""",
)


async def generate_raw(pool: asyncpg.Pool, events: int, start: datetime, span: timedelta) -> None:
    """``events`` events spread evenly over [start, start + span), 7 per visit, 20 per
    visitor (a quarter without fbid), 40 campaigns, every fact's event types."""
    for sql in _GENERATE_SQL[:2]:
        await pool.execute(sql, events)
    await pool.execute(_GENERATE_SQL[2], events, start, TYPES, span)
    await pool.execute("ANALYZE visitors, visits, events")
