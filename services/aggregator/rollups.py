"""Keeping the dashboard rollups (``shared.rollups``) equal to the facts.

:func:`refresh_rollups` runs inside a fact load's transaction, after the fill: it
replaces the loaded table's metrics (and their id bitmaps) in the hourly rollup of the
loaded hours, computed from that table's facts as the transaction sees them, then the
same columns in the daily rollup of every UTC day they touch, from the hours just built
(plus, for part of a day, the day's other hourly rows read back: no second scan of the
facts), then bumps the data version by the hours loaded. Each table's load keeps its own
columns (the other tables' bitmaps are moved as bytes), so a day's rollups cost one pass
over each table's facts. A late event or a
re-aggregation is a load like any other, so the rollups and the dashboard's cache follow
it. :func:`rebuild_rollups` does the same day by day for
whatever facts exist (``forklift aggregate rollups --rebuild``).

Loads of different fact tables for the same hours run side by side: the rollup work takes
a per-day advisory lock (``rollup``, ascending days, after the load's own hour locks), so
the second waits for the first to commit and then reads its facts too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
from pyroaring import BitMap64

from services.aggregator.rollup_sql import (
    bump_version_sql,
    delete_sql,
    ids_select_sql,
    rollup_rows_sql,
    sums_select_sql,
    table_metrics,
)
from shared.db import quote_ident
from shared.facts import FACT_TABLES, FactTable
from shared.logging import get_logger
from shared.rollups import (
    DISTINCT_METRICS,
    ROLLUP_HOURLY,
    ROLLUP_METRICS,
    Grain,
    decode_ids,
    ids_column,
    rollup_table,
)

__all__ = ["DAY", "feeds_rollups", "refresh_rollups", "rebuild_rollups", "day_span"]

log = get_logger("forklift.aggregator.rollups")
DAY = timedelta(days=1)
ROLLUP_LOCK = "rollup"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROLLUP_TABLES = frozenset(m.table.name for m in ROLLUP_METRICS)
ROLLUP_FACT_TABLES = tuple(t for t in FACT_TABLES if t.name in _ROLLUP_TABLES)
_LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(hashtext($1), d)"
    " FROM generate_series($2::integer, $3::integer - 1) AS d"
)


def feeds_rollups(table: FactTable) -> bool:
    """Whether a dashboard metric reads ``table`` (its loads refresh the rollups)."""
    return table.name in _ROLLUP_TABLES


def day_span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days covering [start, end)."""
    first = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return first, last if last == end else last + DAY


def _day_number(day: datetime) -> int:
    return (day - _EPOCH) // DAY


Key = tuple[int, datetime]
# a table's part of one rollup row: each sum metric's total, each distinct metric's ids
Values = dict[str, int | BitMap64]

_N_METRICS = len(ROLLUP_METRICS)
# where each column of a rollup row lies after its key (root, bucket)
_POSITION = {name: i for i, name in enumerate(ROLLUP_HOURLY.column_names[2:])}


def _empty() -> list:
    """A rollup row's values after the key: the 8 metrics, then the bitmaps (serialized)."""
    return [0] * _N_METRICS + [None] * len(DISTINCT_METRICS)


async def _table_hours(
    conn: asyncpg.Connection, table: FactTable, start: datetime, end: datetime
) -> dict[Key, Values]:
    """{(root, hour): values} of ``table``'s metrics from its facts in [start, end): its
    sums as summed, its distinct metrics as the bitmap of the ids flagged for them."""
    fresh: dict[Key, Values] = defaultdict(dict)
    sums_sql, ids_sql = sums_select_sql(table), ids_select_sql(table)
    if sums_sql is not None:
        for row in await conn.fetch(sums_sql, start, end):
            fresh[row[0], row[1]].update(list(row.items())[2:])
    if ids_sql is not None:
        distinct = [m.name for m in table_metrics(table) if m.fact.kind == "distinct"]
        for row in await conn.fetch(ids_sql, start, end):  # one id array per metric
            values = fresh[row[0], row[1]]
            for i, name in enumerate(distinct):
                values[name] = BitMap64(row[2 + i] or ())
    return fresh


async def _stored_hours(
    conn: asyncpg.Connection, table: FactTable, start: datetime, end: datetime
) -> dict[Key, Values]:
    """The same from the hourly rollup rows in [start, end) (only ``table``'s columns)."""
    hours: dict[Key, Values] = {}
    if start >= end:
        return hours
    mine = table_metrics(table)
    for row in await conn.fetch(rollup_rows_sql("hour", table), start, end):
        hours[row[0], row[1]] = {
            m.name: decode_ids(row[ids_column(m)]) if m in DISTINCT_METRICS else row[m.name]
            for m in mine
        }
    return hours


def _by_day(hours: Iterable[dict[Key, Values]]) -> dict[Key, Values]:
    """Per (root, UTC day) of the hours given: sums added, id bitmaps unioned (the day's
    distinct ids, so its count is count(DISTINCT ...) over the day's facts)."""
    days: dict[Key, Values] = {}
    for part in hours:
        for (root, hour), values in part.items():
            day = days.setdefault((root, hour.astimezone(UTC).replace(hour=0)), {})
            for name, value in values.items():
                if name not in day:
                    day[name] = value.copy() if isinstance(value, BitMap64) else value
                elif isinstance(value, BitMap64):
                    day[name] |= value
                else:
                    day[name] += value
    return days


def _merge(table: FactTable, stored: Iterable[asyncpg.Record], fresh: dict[Key, Values]) -> list:
    """The rollup rows after a load of ``table``: the stored rows with the table's columns
    replaced by ``fresh`` (zero/none where it has no row), plus the new keys; a row left
    with no metric and no id is dropped."""
    mine = table_metrics(table)
    values: dict[Key, list] = {(row[0], row[1]): list(row[2:]) for row in stored}
    for key in fresh.keys() | values.keys():
        row = values.setdefault(key, _empty())
        update = fresh.get(key, {})
        for metric in mine:
            value = update.get(metric.name)
            if metric in DISTINCT_METRICS:
                row[_POSITION[metric.name]] = len(value) if value else 0
                row[_POSITION[ids_column(metric)]] = value.serialize() if value else None
            else:
                row[_POSITION[metric.name]] = value or 0
    return [
        (*key, *row)
        for key, row in values.items()
        if any(row[:_N_METRICS]) or any(row[_N_METRICS:])
    ]


async def _replace(
    conn: asyncpg.Connection,
    table: FactTable,
    grain: Grain,
    start: datetime,
    end: datetime,
    fresh: dict[Key, Values],
) -> None:
    """Replace ``table``'s columns of the ``grain`` rollup in [start, end) by ``fresh``."""
    stored = await conn.fetch(rollup_rows_sql(grain), start, end)
    rows = _merge(table, stored, fresh)
    await conn.execute(delete_sql(grain), start, end)
    if rows:
        target = rollup_table(grain)
        await conn.copy_records_to_table(target.name, records=rows, columns=target.column_names)


async def refresh_rollups(
    conn: asyncpg.Connection, table: FactTable, start: datetime, end: datetime
) -> int:
    """After a load of ``table`` for the whole hours [start, end), in ``conn``'s
    transaction: replace the table's metrics in the hourly rollup of those hours (from its
    facts), then in the daily rollup of the UTC days they touch (from those hours and the
    day's other hours), bump the data version by the hours. Returns the new version."""
    first_day, end_day = day_span(start, end)
    await conn.execute(_LOCK_SQL, ROLLUP_LOCK, _day_number(first_day), _day_number(end_day))
    fresh = await _table_hours(conn, table, start, end)
    await _replace(conn, table, "hour", start, end, fresh)
    # a load of whole days (a backfill's batch) has every hour of its days in memory
    before = await _stored_hours(conn, table, first_day, start)
    after = await _stored_hours(conn, table, end, end_day)
    await _replace(conn, table, "day", first_day, end_day, _by_day((before, fresh, after)))
    return int(await conn.fetchval(bump_version_sql(), (end - start) // timedelta(hours=1)))


_SPAN_SQL = " UNION ALL ".join(
    f'SELECT min("hour") AS first, max("hour") AS last FROM {quote_ident(name)}'  # noqa: S608
    for name in sorted(_ROLLUP_TABLES | {ROLLUP_HOURLY.name})
)


async def rebuild_rollups(
    pool: asyncpg.Pool,
    start: datetime | None = None,
    end: datetime | None = None,
    on_day: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """Rebuild the rollups day by day (one transaction per UTC day) over [start, end), by
    default every day holding facts or rollups. ``on_day`` is called after each day.
    Returns (days rebuilt, the data version after)."""
    if start is None or end is None:
        rows = await pool.fetch(f"SELECT min(first), max(last) FROM ({_SPAN_SQL}) s")  # noqa: S608
        first, last = rows[0][0], rows[0][1]
        if first is None:
            return 0, 0
        start = start or first
        end = end or last + timedelta(hours=1)
    first_day, end_day = day_span(start, end)
    day, days, version = first_day, 0, 0
    while day < end_day:
        async with pool.acquire() as conn, conn.transaction():
            for table in ROLLUP_FACT_TABLES:
                version = await refresh_rollups(conn, table, day, day + DAY)
        day, days = day + DAY, days + 1
        if on_day is not None:
            on_day()
    log.info("aggregate.rollups.rebuilt", days=days, version=version)
    return days, version
