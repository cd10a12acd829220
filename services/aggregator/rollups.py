"""Keeping the dashboard rollups (``shared.rollups``) equal to the facts.

:func:`refresh_rollups` runs inside a fact load's transaction, after the fill: it
replaces the loaded table's metrics (and their id bitmaps) in the hourly rollup of the
loaded hours, computed from that table's facts as the transaction sees them, derives the
daily rollup of every UTC day they touch from those days' hourly rows (no second scan of
the facts), then bumps the data version by the hours loaded. Each table's load keeps its
own columns, so a day's rollups cost one pass over each table's facts. A late event or a
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
    hourly_rows_sql,
    ids_select_sql,
    insert_sql,
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
    SUM_METRICS,
    Grain,
    decode_ids,
    ids_column,
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


_N_METRICS = len(ROLLUP_METRICS)
# where each column of a rollup row lies after its key (root, bucket)
_POSITION = {name: i for i, name in enumerate(ROLLUP_HOURLY.column_names[2:])}


def _empty() -> list:
    """A rollup row's values after the key: the 8 metrics, then the bitmaps (serialized)."""
    return [0] * _N_METRICS + [None] * len(DISTINCT_METRICS)


async def _table_hours(
    conn: asyncpg.Connection, table: FactTable, start: datetime, end: datetime
) -> dict[Key, dict[str, int | bytes | None]]:
    """{(root, hour): {column: value}} of ``table``'s metrics (and their bitmaps) from its
    facts in [start, end): its sums as summed, its distinct counts as the cardinality of the
    ids flagged for them."""
    fresh: dict[Key, dict[str, int | bytes | None]] = defaultdict(dict)
    sums_sql, ids_sql = sums_select_sql(table), ids_select_sql(table)
    if sums_sql is not None:
        for row in await conn.fetch(sums_sql, start, end):
            fresh[row[0], row[1]].update(list(row.items())[2:])
    if ids_sql is not None:
        distinct = [m for m in table_metrics(table) if m.fact.kind == "distinct"]
        for row in await conn.fetch(ids_sql, start, end):  # one id array per metric
            for i, metric in enumerate(distinct):
                ids = BitMap64(row[2 + i] or ())
                fresh[row[0], row[1]][metric.name] = len(ids)
                fresh[row[0], row[1]][ids_column(metric)] = ids.serialize() if ids else None
    return fresh


def _merge(
    table: FactTable, stored: Iterable[asyncpg.Record], fresh: dict[Key, dict]
) -> list[tuple]:
    """The hourly rows after a load of ``table``: the stored rows with the table's columns
    replaced by ``fresh`` (zero/none where it has no row), plus the new keys; a row left
    with no metric and no id is dropped."""
    mine = table_metrics(table)
    names = [m.name for m in mine] + [ids_column(m) for m in mine if m.fact.kind == "distinct"]
    values: dict[Key, list] = {}
    for row in stored:
        values[row[0], row[1]] = list(row[2:])
    for key in fresh.keys() | values.keys():
        row = values.setdefault(key, _empty())
        update = fresh.get(key, {})
        for name in names:
            position = _POSITION[name]
            row[position] = update.get(name, 0 if position < _N_METRICS else None)
    return [
        (*key, *row)
        for key, row in values.items()
        if any(row[:_N_METRICS]) or any(row[_N_METRICS:])
    ]


def _day_rows(hourly: Iterable[asyncpg.Record]) -> list[tuple]:
    """The daily rollup rows from the hourly ones of whole days: per (root, UTC day) each
    sum metric added up, each distinct metric the cardinality of the union of the hours'
    id sets (the day's distinct ids), and that union."""
    days: dict[Key, tuple[list[int], list[BitMap64]]] = {}
    for row in hourly:
        day = row["hour"].astimezone(UTC).replace(hour=0)
        sums, unions = days.setdefault(
            (row["root_campaign_id"], day),
            ([0] * len(ROLLUP_METRICS), [BitMap64() for _ in DISTINCT_METRICS]),
        )
        for i, metric in enumerate(ROLLUP_METRICS):
            if metric in SUM_METRICS:
                sums[i] += row[metric.name]
        for i, metric in enumerate(DISTINCT_METRICS):
            data = row[ids_column(metric)]
            if data:
                unions[i] |= decode_ids(data)
    rows = []
    for (root, day), (sums, unions) in days.items():
        by_name = {m.name: len(u) for m, u in zip(DISTINCT_METRICS, unions, strict=True)}
        metrics = [by_name.get(m.name, sums[i]) for i, m in enumerate(ROLLUP_METRICS)]
        rows.append((root, day, *metrics, *(u.serialize() if u else None for u in unions)))
    return rows


async def _write(
    conn: asyncpg.Connection, grain: Grain, start: datetime, end: datetime, rows: list
) -> None:
    await conn.execute(delete_sql(grain), start, end)
    if rows:
        await conn.executemany(insert_sql(grain), rows)


async def refresh_rollups(
    conn: asyncpg.Connection, table: FactTable, start: datetime, end: datetime
) -> int:
    """After a load of ``table`` for the whole hours [start, end), in ``conn``'s
    transaction: replace the table's metrics in the hourly rollup of those hours (from its
    facts), derive the daily rollup of the UTC days they touch, bump the data version by the
    hours. Returns the new version."""
    first_day, end_day = day_span(start, end)
    await conn.execute(_LOCK_SQL, ROLLUP_LOCK, _day_number(first_day), _day_number(end_day))
    stored = await conn.fetch(hourly_rows_sql(), start, end)
    fresh = await _table_hours(conn, table, start, end)
    await _write(conn, "hour", start, end, _merge(table, stored, fresh))
    day_hours = await conn.fetch(hourly_rows_sql(), first_day, end_day)
    await _write(conn, "day", first_day, end_day, _day_rows(day_hours))
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
