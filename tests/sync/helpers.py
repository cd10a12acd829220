"""Test data for sync: an edge-case table, generated events, checksums, settings."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.sync.dialects import checksum_sql
from services.sync.settings import SyncSettings

EDGE_TABLE_SQL = """
CREATE TABLE edge_cases (
    id bigint PRIMARY KEY,
    label text,
    note varchar(50),
    amount numeric(12,3),
    flag boolean,
    day date,
    at timestamp,
    at_tz timestamptz,
    doc json,
    docb jsonb,
    uid uuid,
    tags text[],
    nums integer[],
    blob bytea,
    ratio double precision,
    updated timestamptz NOT NULL
)
"""
EDGE_LABELS = [
    "plain",
    "",
    None,
    'with "quotes", and, commas',
    "multi\nline\r\nvalue",
    "back\\slash \\N and \\.",
    "\\.",
    "ünïcødé ✓ 日本語 🚀",
    "trailing space ",
    ",",
    '"',
]


async def create_edge_table(source: asyncpg.Pool) -> None:
    """``edge_cases`` in the source: every mapped type and every awkward CSV value."""
    await source.execute(EDGE_TABLE_SQL)
    rows = [
        (
            i,
            label,
            label[:50] if label is not None else None,
            None if i % 3 == 0 else f"{i}.125",
            None if i % 4 == 0 else i % 2 == 0,
            "2026-11-20",
            "2026-11-20 14:05:01.123456",
            "2026-11-20 14:05:01.5+00",
            None if label is None else f'{{"k": "{i}", "s": "a,b\\n"}}',
            '{"nested": {"list": [1, "two", null]}}',
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            None if i % 2 else ["x,y", 'q"uote', "", None],
            [1, None, 3],
            None if i % 2 else b"\x00\x01\\\n\xff",
            None if i % 5 == 0 else 1 / (i + 3),
            "2026-11-01 00:00:00+00",
        )
        for i, label in enumerate(EDGE_LABELS)
    ]
    await source.executemany(
        "INSERT INTO edge_cases VALUES ($1, $2, $3, $4::text::numeric, $5, $6::text::date,"
        " $7::text::timestamp, $8::text::timestamptz, $9::text::json, $10::text::jsonb,"
        " $11::text::uuid, $12, $13, $14, $15, $16::text::timestamptz)",
        [tuple(_as_text(v, n) for n, v in enumerate(row)) for row in rows],
    )


def _as_text(value: Any, position: int) -> Any:
    # Positions cast in SQL above take text; the rest go as Python values.
    return value if position not in (3, 5, 6, 7, 8, 9, 10, 15) or value is None else str(value)


async def seed_events(source: asyncpg.Pool, rows: int, start_id: int = 1) -> None:
    """``rows`` events over five hours of 2026-11-20, updated at 2026-11-01."""
    await source.execute(
        """
        INSERT INTO events (event_id, visit_id, campaign_id, client_content, content,
            friend_fbid, type, activity_id, event_datetime, created, updated)
        SELECT g, g % 997, nullif(g % 13, 0), g % 7, 'content ' || g || ', "q"',
            CASE WHEN g % 3 = 0 THEN 100000000000 + g END, 'button_click', NULL,
            ts, ts, '2026-11-01 00:00:00+00'
        FROM generate_series($1::bigint, $2::bigint) AS g,
            LATERAL (SELECT '2026-11-20 10:00:00+00'::timestamptz
                     + (g % 5) * interval '1 hour' + (g % 60) * interval '1 minute' AS ts) t
        """,
        start_id,
        start_id + rows - 1,
    )


async def table_checksum(pool: asyncpg.Pool, table: str, columns: list[str]) -> tuple[int, Any]:
    row = await pool.fetchrow(checksum_sql("postgres", table, columns))
    return row["rows"], row["checksum"]


async def source_columns(source: asyncpg.Pool, table: str) -> list[str]:
    rows = await source.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
        " ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


async def assert_equal_to_source(source: asyncpg.Pool, warehouse: asyncpg.Pool, table: str) -> int:
    columns = await source_columns(source, table)
    expected = await table_checksum(source, table, columns)
    assert await table_checksum(warehouse, table, columns) == expected
    return expected[0]


def sync_settings(prefix: str, **overrides: Any) -> SyncSettings:
    values: dict[str, Any] = {
        "tables": ["events", "visits", "clients", "edge_cases"],
        "modes": {"events": "incremental", "edge_cases": "incremental"},
        "prefix": prefix,
        "bucket": "forklift-sync-tests",
        "overlap_s": 0,
        "part_size_bytes": 64 * 1024,
    }
    values.update(overrides)
    return SyncSettings(_env_file=None, **values)
