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
    "DATA_VERSION_SQL",
    "SummaryPlan",
    "summary_plan",
    "day_span",
    "build_blocks",
    "series_json",
    "summarize",
    "with_points",
]

METRIC_NAMES = tuple(m.name for m in ROLLUP_METRICS)
DAY = timedelta(days=1)
_SUMS = tuple(m.name for m in ROLLUP_METRICS if m not in DISTINCT_METRICS)


def _blocks_select(kind: str, table: str, bucket: str) -> str:
    columns = ", ".join(
        [
            *(quote_ident(n) for n in METRIC_NAMES),
            *(quote_ident(ids_column(m)) for m in DISTINCT_METRICS),
        ]
    )
    return (
        f"SELECT '{kind}' AS kind, \"root_campaign_id\", {quote_ident(bucket)} AS at, {columns}"  # noqa: S608
        f' FROM {quote_ident(table)} WHERE "root_campaign_id" = ANY($1::bigint[])'
        f" AND {quote_ident(bucket)} >= $2 AND {quote_ident(bucket)} < $3"
    )


BLOCKS_SQL = (
    _blocks_select("h", ROLLUP_HOURLY.name, "hour")
    + "\nUNION ALL\n"
    + _blocks_select("d", ROLLUP_DAILY.name, "day")
)
"""Every hourly and daily rollup row of roots $1 (bigint[]) in the UTC days [$2, $3):
kind ('h' or 'd'), root_campaign_id, at, the 8 metrics, the bitmaps."""

DATA_VERSION_SQL = 'SELECT "version", "updated" FROM "dashboard_data_version" WHERE "id" = 1'


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Bucket:
    """One rollup row: its UTC start and 8 metrics; the distinct metrics' id sets and its
    series point as JSON text (``models.SeriesPoint``) are decoded when first used (a
    series never needs the bitmaps, a summary needs only the buckets it adds up)."""

    def __init__(self, row: Sequence[Any]) -> None:
        self.at: datetime = row[2]
        self._row = row

    @cached_property
    def metrics(self) -> dict[str, int]:
        return {name: int(self._row[3 + i]) for i, name in enumerate(METRIC_NAMES)}

    @cached_property
    def ids(self) -> tuple[BitMap64, ...]:
        return tuple(decode_ids(data) for data in self._row[3 + len(METRIC_NAMES) :])

    @cached_property
    def point(self) -> str:
        values = ",".join(f'"{name}":{value}' for name, value in self.metrics.items())
        return f'{{"start":"{_iso(self.at)}","metrics":{{{values}}}}}'


@dataclass
class DayBlock:
    """A root campaign's rollups of one UTC day: its hourly buckets (in time order) and
    its daily bucket (None: no data that day)."""

    day: datetime
    hours: list[Bucket] = field(default_factory=list)
    whole: Bucket | None = None


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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
    for row in rows:
        bucket = Bucket(row)
        block = blocks.setdefault((row[1], _midnight(bucket.at)), DayBlock(_midnight(bucket.at)))
        if row[0] == "d":
            block.whole = bucket
        else:
            block.hours.append(bucket)
    for block in blocks.values():
        block.hours.sort(key=lambda b: b.at)
    return blocks


def series_json(blocks: Iterable[DayBlock], start: datetime, end: datetime, grain: Grain) -> str:
    """The points (JSON array text) of the blocks' ``grain`` buckets in [start, end)."""
    points = []
    for block in blocks:
        buckets = block.hours if grain == "hour" else [block.whole] if block.whole else []
        points.extend(b.point for b in buckets if start <= b.at < end)
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
            for name in _SUMS:
                totals[name] += metrics[name]
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
