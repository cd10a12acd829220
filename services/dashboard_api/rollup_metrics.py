"""The dashboard metrics (SPEC §8) read from the rollups (``shared.rollups``). Pure: SQL
text, decoding, range planning and merging; no I/O.

The API reads the rollups a root campaign and UTC day at a time (:class:`DayBlock`: the
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
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
    "series_json",
    "summarize",
    "with_points",
]

METRIC_NAMES = tuple(m.name for m in ROLLUP_METRICS)
DAY = timedelta(days=1)
_SUMS = tuple((i, m.name) for i, m in enumerate(ROLLUP_METRICS) if m not in DISTINCT_METRICS)


def _point_sql(bucket: str) -> str:
    """SQL rendering a row's series point as JSON text (``models.SeriesPoint``): Postgres
    writes it as it reads the row, so the API never formats a number."""
    start = f"to_char({quote_ident(bucket)} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    metrics = " || ',' || ".join(f"'\"{name}\":' || {quote_ident(name)}" for name in METRIC_NAMES)
    return '\'{"start":"\' || ' + start + ' || \'","metrics":{\' || ' + metrics + " || '}}'"


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
ROOTS_OF_DAY_SQL = f'SELECT count(*) FROM {quote_ident(ROLLUP_DAILY.name)} WHERE "day" = $1'  # noqa: S608
_IDS = 4 + len(METRIC_NAMES)  # where a row's bitmaps start


class Bucket:
    """One rollup row: its UTC start, its 8 metrics (in :data:`METRIC_NAMES` order), its
    series point as JSON text, and the distinct metrics' id sets, decoded when first used
    (a series never needs them, a summary needs only the buckets it adds up)."""

    def __init__(self, row: Sequence[Any]) -> None:
        self.at: datetime = row[2]
        self.point: str = row[_IDS - 1]
        self._row = row

    @cached_property
    def metrics(self) -> Sequence[int]:
        return self._row[3 : _IDS - 1]

    @cached_property
    def ids(self) -> tuple[BitMap64, ...]:
        return tuple(decode_ids(data) for data in self._row[_IDS:])


@dataclass
class DayBlock:
    """A root campaign's rollups of one UTC day: its hourly buckets (in time order) and
    its daily bucket (None: no data that day)."""

    day: datetime
    hours: list[Bucket] = field(default_factory=list)
    whole: Bucket | None = None

    @cached_property
    def hour_points(self) -> list[str]:
        """The points of all its hours (a series over the whole day)."""
        return [b.point for b in self.hours]


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
    blocks = {(root, day): DayBlock(day) for root in roots for day in days}
    midnights: dict[datetime, datetime] = {}  # the roots' rows share their hours
    for row in rows:
        bucket = Bucket(row)
        day = midnights.get(bucket.at)
        if day is None:
            day = midnights[bucket.at] = _midnight(bucket.at)
        block = blocks.get((row[1], day))
        if block is None:
            block = blocks[row[1], day] = DayBlock(day)
        if row[0] == "d":
            block.whole = bucket
        else:
            block.hours.append(bucket)
    for block in blocks.values():
        block.hours.sort(key=lambda b: b.at)
    return blocks


def series_json(blocks: Iterable[DayBlock], start: datetime, end: datetime, grain: Grain) -> str:
    """The points (JSON array text) of the blocks' ``grain`` buckets in [start, end)."""
    points: list[str] = []
    for block in blocks:
        if grain == "day":
            if block.whole is not None and start <= block.day < end:
                points.append(block.whole.point)
        elif start <= block.day and block.day + DAY <= end:
            points.extend(block.hour_points)
        else:
            points.extend(b.point for b in block.hours if start <= b.at < end)
    return "[" + ",".join(points) + "]"


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
        if self.days_start <= block.day < self.days_end:
            return [block.whole] if block.whole else []
        return [b for b in block.hours if self.start <= b.at < self.end]


def summary_plan(start: datetime, end: datetime) -> SummaryPlan:
    """The plan of whole-hour [start, end)."""
    first = _midnight(start)
    days_start = first if first == start else first + DAY
    days_end = _midnight(end)
    if days_end <= days_start:  # no whole day inside
        return SummaryPlan(start, end, end, end)
    return SummaryPlan(start, end, days_start, days_end)


def summarize(blocks: Iterable[DayBlock], plan: SummaryPlan) -> dict[str, int]:
    """The 8 metrics over the plan's range: sums added, bitmaps unioned and counted."""
    totals = dict.fromkeys(METRIC_NAMES, 0)
    sets: list[list[BitMap64]] = [[] for _ in DISTINCT_METRICS]
    for block in blocks:
        for bucket in plan.buckets(block):
            metrics = bucket.metrics
            for i, name in _SUMS:
                totals[name] += metrics[i]
            for i, ids in enumerate(bucket.ids):
                if ids:
                    sets[i].append(ids)
    for metric, parts in zip(DISTINCT_METRICS, sets, strict=True):
        totals[metric.name] = len(BitMap64.union(*parts)) if parts else 0
    return totals


def with_points(series_json: str, points_json: str) -> str:
    """A ``Series`` answer rendered with no points, with ``points_json`` as its points."""
    empty = '"points":[]}'
    if not series_json.endswith(empty):
        raise ValueError("the series must end with its (empty) points")
    return f'{series_json[: -len(empty)]}"points":{points_json}}}'
