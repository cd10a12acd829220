"""The dashboard metrics (SPEC §8) read from the rollups (``shared.rollups``). Pure: SQL
text, decoding, range planning and merging; no I/O.

The API reads the rollups a root campaign and UTC day at a time (:data:`DayBlock`: the
day's daily row and its hourly rows, decoded once: each bucket's 8 metrics, its id
bitmaps and its point as JSON text) and keeps the blocks by data version
(``queries.fetch_blocks``), so requests for other ranges over the same days reuse them:

- a series is the points of the blocks' buckets inside [start, end), joined;
- a summary over whole hours [start, end) takes the daily buckets of the UTC days inside
  the range and the hourly buckets of the hours before and after them (:class:`SummaryPlan`);
  sums add up, distinct metrics are the cardinality of the union of the buckets' id
  bitmaps: every figure exact over the range, without reading a fact row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyroaring import BitMap64

from shared.db import quote_ident
from shared.rollups import (
    DISTINCT_METRICS,
    ROLLUP_DAILY,
    ROLLUP_HOURLY,
    ROLLUP_METRICS,
    Grain,
    decode_ids,
    ids_column,
)

__all__ = [
    "METRIC_NAMES",
    "DAY",
    "Bucket",
    "DayBlock",
    "BLOCKS_SQL",
    "DAYS_SQL",
    "DATA_VERSION_SQL",
    "LAST_DAY_SQL",
    "ROOTS_OF_DAY_SQL",
    "SummaryPlan",
    "summary_plan",
    "day_span",
    "block_key",
    "build_blocks",
    "id_set_cache",
    "series_points",
    "summarize",
    "with_points",
]

METRIC_NAMES = tuple(m.name for m in ROLLUP_METRICS)
DAY = timedelta(days=1)
_SUMS = tuple((i, m.name) for i, m in enumerate(ROLLUP_METRICS) if m not in DISTINCT_METRICS)


def _point_sql(bucket: str) -> str:
    """SQL rendering a row's series point as JSON (``models.SeriesPoint``), UTF-8 bytes:
    Postgres writes it as it reads the row, so the API never formats a number, and the
    answer is the points' bytes joined once."""
    start = f"to_char({quote_ident(bucket)} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    metrics = " || ',' || ".join(f"'\"{name}\":' || {quote_ident(name)}" for name in METRIC_NAMES)
    text = '\'{"start":"\' || ' + start + ' || \'","metrics":{\' || ' + metrics + " || '}}'"
    return f"convert_to({text}, 'UTF8')"


def _blocks_select(kind: str, table: str, bucket: str, by_root: bool) -> str:
    columns = ", ".join(
        [
            *(quote_ident(n) for n in METRIC_NAMES),
            _point_sql(bucket),
            *(quote_ident(ids_column(m)) for m in DISTINCT_METRICS),
        ]
    )
    roots = '"root_campaign_id" = ANY($3::bigint[]) AND ' if by_root else ""
    return (
        f"SELECT '{kind}' AS kind, \"root_campaign_id\", {quote_ident(bucket)} AS at, {columns}"  # noqa: S608
        f" FROM {quote_ident(table)} WHERE {roots}"
        f"{quote_ident(bucket)} >= $1 AND {quote_ident(bucket)} < $2"
    )


def _blocks_sql(by_root: bool) -> str:
    return (
        _blocks_select("h", ROLLUP_HOURLY.name, "hour", by_root)
        + "\nUNION ALL\n"
        + _blocks_select("d", ROLLUP_DAILY.name, "day", by_root)
    )


BLOCKS_SQL = _blocks_sql(by_root=True)
"""Every hourly and daily rollup row of roots $3 (bigint[]) in the UTC days [$1, $2):
kind ('h' or 'd'), root_campaign_id, at, the 8 metrics, the point (JSON text), the
bitmaps."""
DAYS_SQL = _blocks_sql(by_root=False)
""":data:`BLOCKS_SQL` for every root (the warm-up: a day's rows lie together)."""

DATA_VERSION_SQL = 'SELECT "version", "updated" FROM "dashboard_data_version" WHERE "id" = 1'
LAST_DAY_SQL = f'SELECT max("day") FROM {quote_ident(ROLLUP_DAILY.name)}'  # noqa: S608
ROOTS_OF_DAY_SQL = (
    f'SELECT array_agg("root_campaign_id") FROM {quote_ident(ROLLUP_DAILY.name)} WHERE "day" = $1'  # noqa: S608
)
_IDS = 4 + len(METRIC_NAMES)  # where a row's bitmaps start


Bucket = tuple[datetime, bytes, tuple[int, ...], tuple[bytes | None, ...]]
"""One rollup row: (its UTC start, its series point as JSON, its 8 metrics in
:data:`METRIC_NAMES` order, the distinct metrics' id sets as stored: decoded only by a
summary that adds the bucket up, through :func:`id_set_cache`; a series never needs them)."""

DayBlock = tuple[datetime, tuple[Bucket, ...], Bucket | None, bytes]
"""A root campaign's rollups of one UTC day: (the day, its hourly buckets in time order,
its daily bucket (None: no data that day), the points of all its hours joined by commas).

Blocks and buckets are plain tuples of numbers, text, bytes and datetimes (no class
instances, no asyncpg records): the cycle collector stops tracking such tuples, so the
cache of tens of thousands of buckets adds nothing to a full collection, which walks every
tracked object (about 1 us each on a 2-core machine: 40k cached buckets as objects made
every full collection a 100-250 ms pause of the API process)."""


def _bucket(row: Sequence[Any]) -> Bucket:
    """The bucket of a :data:`BLOCKS_SQL` row."""
    return row[2], row[_IDS - 1], tuple(row[3 : _IDS - 1]), tuple(row[_IDS:])


def id_set_cache(max_entries: int) -> Callable[[bytes], BitMap64]:
    """:func:`shared.rollups.decode_ids` keeping the ``max_entries`` last decoded sets, by
    their stored bytes (a bucket's bytes are the same object in every request that reads
    its cached block: the lookup hashes them once). The sets are shared: never change one."""
    return functools.lru_cache(maxsize=max_entries)(decode_ids)


def _midnight(moment: datetime) -> datetime:
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def block_key(root: int, day: datetime) -> tuple[int, int]:
    """The block cache's key of (root, UTC day): the day by its ordinal (hashing an aware
    datetime calls its utcoffset; a request looks up 31 blocks)."""
    return root, day.toordinal()


def day_span(start: datetime, end: datetime) -> list[datetime]:
    """The UTC midnights of the days [start, end) touches."""
    day, days = _midnight(start), []
    while day < end:
        days.append(day)
        day += DAY
    return days


def build_blocks(
    rows: Iterable[Sequence[Any]], roots: Iterable[int], days: Sequence[datetime]
) -> dict[tuple[int, datetime], DayBlock]:
    """{(root, day): block} for every root and day asked (empty blocks included) from
    :data:`BLOCKS_SQL` rows of those days."""
    hours: dict[tuple[int, datetime], list[Bucket]] = {
        (root, day): [] for root in roots for day in days
    }
    wholes: dict[tuple[int, datetime], Bucket] = {}
    midnights: dict[datetime, datetime] = {}  # the roots' rows share their hours
    for row in rows:
        bucket = _bucket(row)
        day = midnights.get(bucket[0])
        if day is None:
            day = midnights[bucket[0]] = _midnight(bucket[0])
        key = (row[1], day)
        if row[0] == "d":
            wholes[key] = bucket
            hours.setdefault(key, [])
        else:
            hours.setdefault(key, []).append(bucket)
    blocks: dict[tuple[int, datetime], DayBlock] = {}
    for key, buckets in hours.items():
        buckets.sort(key=_start)
        points = b",".join(point for _, point, _, _ in buckets)
        blocks[key] = (key[1], tuple(buckets), wholes.get(key), points)
    return blocks


def _start(bucket: Bucket) -> datetime:
    return bucket[0]


def series_points(
    blocks: Iterable[DayBlock], start: datetime, end: datetime, grain: Grain
) -> list[bytes]:
    """The points of the blocks' ``grain`` buckets in [start, end), in time order, as JSON
    (an item holds a whole day's hours, comma-separated, where the range holds the day)."""
    points: list[bytes] = []
    for day, hours, whole, hour_points in blocks:
        if grain == "day":
            if whole is not None and start <= day < end:
                points.append(whole[1])
        elif start <= day and day + DAY <= end:
            if hour_points:
                points.append(hour_points)
        else:
            points.extend(point for at, point, _, _ in hours if start <= at < end)
    return points


@dataclass(frozen=True)
class SummaryPlan:
    """Which buckets make up whole-hour [start, end): the daily buckets of the whole UTC
    days [days_start, days_end), the hourly buckets of [start, days_start) and
    [days_end, end) (with no whole day inside: every hour from the hourly buckets)."""

    start: datetime
    end: datetime
    days_start: datetime
    days_end: datetime

    def buckets(self, block: DayBlock) -> list[Bucket]:
        """The buckets of ``block`` the summary adds up."""
        day, hours, whole, _ = block
        if self.days_start <= day < self.days_end:
            return [whole] if whole is not None else []
        return [b for b in hours if self.start <= b[0] < self.end]


def summary_plan(start: datetime, end: datetime) -> SummaryPlan:
    """The plan of whole-hour [start, end)."""
    first = _midnight(start)
    days_start = first if first == start else first + DAY
    days_end = _midnight(end)
    if days_end <= days_start:  # no whole day inside
        return SummaryPlan(start, end, end, end)
    return SummaryPlan(start, end, days_start, days_end)


def summarize(
    blocks: Iterable[DayBlock],
    plan: SummaryPlan,
    id_set: Callable[[bytes], BitMap64] = decode_ids,
) -> dict[str, int]:
    """The 8 metrics over the plan's range: sums added, id sets (decoded by ``id_set``)
    unioned and counted."""
    buckets = [bucket for block in blocks for bucket in plan.buckets(block)]
    totals = dict.fromkeys(METRIC_NAMES, 0)
    if not buckets:
        return totals
    columns = list(zip(*(metrics for _, _, metrics, _ in buckets), strict=True))
    for i, name in _SUMS:
        totals[name] = sum(columns[i])
    id_columns = zip(*(id_sets for _, _, _, id_sets in buckets), strict=True)
    for metric, column in zip(DISTINCT_METRICS, id_columns, strict=True):
        parts = [id_set(data) for data in column if data]
        totals[metric.name] = len(BitMap64.union(*parts)) if parts else 0
    return totals


def with_points(series_json: str, points: Sequence[bytes]) -> bytes:
    """A ``Series`` answer rendered with no points, with ``points`` (JSON) as its points:
    the answer's bytes written once."""
    empty = '"points":[]}'
    if not series_json.endswith(empty):
        raise ValueError("the series must end with its (empty) points")
    parts = [series_json[: -len(empty)].encode(), b'"points":[']
    for i, point in enumerate(points):
        if i:
            parts.append(b",")
        parts.append(point)
    parts.append(b"]}")
    return b"".join(parts)
