"""The dashboard rollups (SPEC §8): the 8 dashboard metrics per root campaign and UTC hour,
and per root campaign and UTC day, as tables, plus the data version and the id bitmaps.

The aggregator writes them in the transaction of each fact load
(``services.aggregator.rollups``); the dashboard reads them (``services.dashboard_api``).

- Counts are exact at their grain: a day's ``visits`` is count(distinct visit_id) over
  the day's facts, never a sum of its hours.
- Each distinct metric also keeps its id set (``<metric>_ids``) as a serialized 64-bit
  roaring bitmap (:func:`encode_ids`): the distinct count over any whole-hour range is the
  cardinality of the union of the range's days' and hours' bitmaps, without fact rows.
- ``dashboard_data_version`` holds one row: a counter the aggregator bumps by the hours it
  loaded, and when; the dashboard keys its response cache and ETags on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pyroaring import BitMap64

from shared.facts import DASHBOARD_METRICS, DashboardMetric
from shared.schema import Column, Index, Table

__all__ = [
    "Grain",
    "ROLLUP_METRICS",
    "DISTINCT_METRICS",
    "SUM_METRICS",
    "ROLLUP_TABLES",
    "ROLLUP_HOURLY",
    "ROLLUP_DAILY",
    "DATA_VERSION",
    "rollup_table",
    "bucket_column",
    "ids_column",
    "encode_ids",
    "decode_ids",
]

Grain = Literal["hour", "day"]

ROLLUP_METRICS: tuple[DashboardMetric, ...] = DASHBOARD_METRICS
DISTINCT_METRICS = tuple(m for m in ROLLUP_METRICS if m.fact.kind == "distinct")
SUM_METRICS = tuple(m for m in ROLLUP_METRICS if m.fact.kind == "sum")


def ids_column(metric: DashboardMetric) -> str:
    """The bitmap column of a distinct metric."""
    return f"{metric.name}_ids"


def _rollup(name: str, bucket: str) -> Table:
    return Table(
        name,
        (
            Column("root_campaign_id", "bigint", nullable=False),
            Column(bucket, "timestamptz", nullable=False),
            *(Column(m.name, "bigint", nullable=False, default="0") for m in ROLLUP_METRICS),
            *(Column(ids_column(m), "bytea") for m in DISTINCT_METRICS),
        ),
        # the dashboard reads (root, bucket range); the loader deletes by bucket range
        primary_key=("root_campaign_id", bucket),
        indexes=(Index((bucket,)),),
    )


ROLLUP_HOURLY = _rollup("dashboard_rollup_hourly", "hour")
ROLLUP_DAILY = _rollup("dashboard_rollup_daily", "day")
DATA_VERSION = Table(
    "dashboard_data_version",
    (
        Column("id", "smallint", nullable=False),  # always 1: one row
        Column("version", "bigint", nullable=False),
        Column("updated", "timestamptz", nullable=False),
    ),
    primary_key=("id",),
)
ROLLUP_TABLES = (ROLLUP_HOURLY, ROLLUP_DAILY, DATA_VERSION)


def rollup_table(grain: Grain) -> Table:
    return ROLLUP_HOURLY if grain == "hour" else ROLLUP_DAILY


def bucket_column(grain: Grain) -> str:
    """``hour`` or ``day``: the rollup's time column (the bucket's UTC start)."""
    return grain


def encode_ids(ids: Iterable[int]) -> bytes:
    """A set of non-negative 64-bit ids as a portable serialized roaring bitmap."""
    return BitMap64(ids).serialize()


def decode_ids(data: bytes | None) -> BitMap64:
    """The bitmap :func:`encode_ids` wrote (empty for NULL)."""
    return BitMap64.deserialize(data) if data else BitMap64()
