"""The dashboard metrics (SPEC §8) read from the rollups (``shared.rollups``). Pure: SQL
text, range planning and merging; no I/O.

- A series is the rollup rows of one root campaign at its grain: one indexed range read.
- A summary over whole hours [start, end) reads the daily rollup rows of the UTC days
  inside the range and the hourly rows of the hours before and after them; sums add up,
  distinct metrics are the cardinality of the union of the rows' id bitmaps, so every
  figure is exact over the range without reading a fact row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyroaring import BitMap64

from shared.db import quote_ident
from shared.rollups import (
    DISTINCT_METRICS,
    ROLLUP_METRICS,
    SUM_METRICS,
    Grain,
    bucket_column,
    decode_ids,
    ids_column,
    rollup_table,
)

__all__ = [
    "METRIC_NAMES",
    "SummaryPlan",
    "series_sql",
    "summary_plan",
    "SUMMARY_SQL",
    "merge_summaries",
    "DATA_VERSION_SQL",
    "with_points",
]

METRIC_NAMES = tuple(m.name for m in ROLLUP_METRICS)
DAY = timedelta(days=1)
_METRICS = ", ".join(quote_ident(n) for n in METRIC_NAMES)


def series_sql(grain: Grain) -> str:
    """The points of root $1 for the buckets in [$2, $3), in time order, as one JSON array
    text rendered by Postgres (``[{"start": "...Z", "metrics": {...}}, ...]``, the shape of
    ``models.SeriesPoint``): a 30-day hourly series is 720 points, which Postgres renders
    in a fraction of what building them as Python objects costs."""
    bucket = quote_ident(bucket_column(grain))
    metrics = ", ".join(f"'{n}', {quote_ident(n)}" for n in METRIC_NAMES)
    start = f"""to_char({bucket} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    return (
        f"SELECT coalesce(json_agg(json_build_object('start', {start},"  # noqa: S608 ours
        f" 'metrics', json_build_object({metrics})) ORDER BY {bucket}), '[]')::text"
        f" FROM {quote_ident(rollup_table(grain).name)}"
        f' WHERE "root_campaign_id" = $1 AND {bucket} >= $2 AND {bucket} < $3'
    )


@dataclass(frozen=True)
class SummaryPlan:
    """Which rollup rows make up [start, end): the whole UTC days [days_start, days_end)
    from the daily rollup, the hours [start, days_start) and [days_end, end) from the
    hourly one (with no whole day inside: all of [start, end) from the hourly rollup)."""

    start: datetime
    end: datetime
    days_start: datetime
    days_end: datetime

    def params(self) -> tuple[datetime, ...]:
        """$2..$7 of :data:`SUMMARY_SQL`."""
        return (
            self.days_start,
            self.days_end,
            self.start,
            self.days_start,
            self.days_end,
            self.end,
        )


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def summary_plan(start: datetime, end: datetime) -> SummaryPlan:
    """The plan of whole-hour [start, end)."""
    first = _midnight(start)
    days_start = first if first == start else first + DAY
    days_end = _midnight(end)
    if days_end <= days_start:  # no whole day inside
        return SummaryPlan(start, end, end, end)
    return SummaryPlan(start, end, days_start, days_end)


def _summary_select(grain: Grain, where: str) -> str:
    sums = ", ".join(quote_ident(m.name) for m in SUM_METRICS)
    ids = ", ".join(quote_ident(ids_column(m)) for m in DISTINCT_METRICS)
    return (
        f'SELECT "root_campaign_id", {sums}, {ids}'  # noqa: S608 our identifiers
        f' FROM {quote_ident(rollup_table(grain).name)} WHERE "root_campaign_id" = ANY($1::bigint[])'
        f" AND ({where})"
    )


SUMMARY_SQL = (
    _summary_select("day", '"day" >= $2 AND "day" < $3')
    + "\nUNION ALL\n"
    + _summary_select("hour", '("hour" >= $4 AND "hour" < $5) OR ("hour" >= $6 AND "hour" < $7)')
)
"""root_campaign_id, the sum metrics, the bitmaps of the rows of :class:`SummaryPlan`:
binds $1 the roots (bigint[]), $2..$7 :meth:`SummaryPlan.params`."""

DATA_VERSION_SQL = 'SELECT "version", "updated" FROM "dashboard_data_version" WHERE "id" = 1'


def merge_summaries(
    rows: Iterable[Sequence[Any]], roots: Iterable[int]
) -> dict[int, dict[str, int]]:
    """``{root: {metric: value}}`` from :data:`SUMMARY_SQL` rows, every root and metric
    present (0 where no row): sums added, bitmaps unioned and counted."""
    n_sums = len(SUM_METRICS)
    sums: dict[int, list[int]] = {root: [0] * n_sums for root in roots}
    bitmaps: dict[int, list[list[BitMap64]]] = {}
    for row in rows:
        root = row[0]
        totals = sums.setdefault(root, [0] * n_sums)
        for i in range(n_sums):
            totals[i] += row[1 + i]
        sets = bitmaps.setdefault(root, [[] for _ in DISTINCT_METRICS])
        for i, data in enumerate(row[1 + n_sums :]):
            if data:
                sets[i].append(decode_ids(data))
    merged: dict[int, dict[str, int]] = {}
    for root, totals in sums.items():
        values = dict(zip((m.name for m in SUM_METRICS), totals, strict=True))
        sets = bitmaps.get(root, [[] for _ in DISTINCT_METRICS])
        for metric, parts in zip(DISTINCT_METRICS, sets, strict=True):
            values[metric.name] = len(BitMap64.union(*parts)) if parts else 0
        merged[root] = {name: values[name] for name in METRIC_NAMES}
    return merged


def with_points(series_json: str, points_json: str) -> str:
    """A ``Series`` answer rendered with no points, with ``points_json`` as its points."""
    empty = '"points":[]}'
    if not series_json.endswith(empty):
        raise ValueError("the series must end with its (empty) points")
    return f'{series_json[: -len(empty)]}"points":{points_json}}}'
