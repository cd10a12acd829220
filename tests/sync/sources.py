"""One sync scenario on either source dialect: seeding and changing the source through
``SourceDatabase`` (the same calls for Postgres and MySQL) and comparing the warehouse
with the source row by row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.sync.runner import SyncClients
from shared.settings import CoreSettings
from shared.source import SourceDatabase
from shared.source_schema import EVENTS

# Whole hours two days before now: the tests' clock, whatever the day they run.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
UPDATED = T0 - timedelta(days=10)


@dataclass
class SourceCase:
    dialect: str
    core: CoreSettings
    db: SourceDatabase
    clients: SyncClients


def event_row(g: int) -> tuple:
    """Event ``g``: created in hour ``g % 5`` after T0, content with every awkward character."""
    at = T0 + timedelta(hours=g % 5, minutes=g % 60)
    content = None if g % 7 == 0 else f'content {g}, "q"\n\\N\ttab ✓🚀' if g % 2 else ""
    friend = 100_000_000_000 + g if g % 3 == 0 else None
    return (
        g,
        g % 997,
        g % 13 or None,
        g % 7,
        content,
        friend,
        "button_click",
        None,
        at,
        at,
        UPDATED,
    )


async def seed_events(db: SourceDatabase, rows: int, start_id: int = 1) -> None:
    records = [event_row(g) for g in range(start_id, start_id + rows)]
    await db.insert([("events", EVENTS.column_names, records)])


def _normal(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:  # MySQL DATETIME holds UTC
        return value.replace(tzinfo=UTC)
    return value


async def assert_same_rows(
    db: SourceDatabase, warehouse: asyncpg.Pool, table: str, key: str
) -> int:
    """The warehouse copy of ``table`` holds exactly the source's rows; returns how many."""
    source = await db.fetch(f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608
    copied = await warehouse.fetch(f'SELECT * FROM "{table}" ORDER BY "{key}"')  # noqa: S608
    expected = [{k: _normal(v) for k, v in row.items()} for row in source]
    columns = list(expected[0]) if expected else []
    assert len(copied) == len(expected)
    assert [{k: row[k] for k in columns} for row in copied] == expected
    return len(expected)
