"""SQL for the dashboard metrics (SPEC §8) straight from the fact tables, rendered from
shared.facts.DASHBOARD_METRICS: what the API answered before the rollups, kept as the
independent reference the demo check and bench/dashboard.py compare the rollup answers
(``rollup_metrics``) with.

Pure: no I/O. One query per fact table a metric lives in; the caller runs them and merges
the rows with :func:`merge_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.db import quote_ident
from shared.facts import DASHBOARD_METRICS, DashboardMetric, FactTable

__all__ = [
    "MetricQuery",
    "metric_queries",
    "merge_rows",
    "METRIC_NAMES",
    "Grouping",
    "CAMPAIGNS_OF_ROOTS",
]

METRIC_NAMES = tuple(m.name for m in DASHBOARD_METRICS)
Grouping = Literal["root", "hour", "day"]


@dataclass(frozen=True)
class MetricQuery:
    """The SQL for the metrics of one fact table; binds $1 the roots' campaign ids (bigint[],
    from :data:`CAMPAIGNS_OF_ROOTS`), $2 start, $3 end."""

    table: FactTable
    metrics: tuple[str, ...]
    sql: str


# The metric queries take the campaign ids themselves, resolved first with this query: with
# the ids as a parameter every plan (custom or generic) reads the (campaign_id, hour) index.
# Filtering by root through a join made Postgres scan the hour range of every campaign
# (3-4x slower on a 5M-row fact table).
CAMPAIGNS_OF_ROOTS = "SELECT array_agg(campaign_id) FROM campaign_properties WHERE root_campaign_id = ANY($1::bigint[])"
_CAMPAIGNS = "f.campaign_id = ANY($1::bigint[])"
_ROOT_JOIN = "JOIN campaign_properties cp ON cp.campaign_id = f.campaign_id\n"


def _aggregate(metric: DashboardMetric) -> str:
    fact = quote_ident(metric.fact.name)
    if metric.fact.kind == "sum":
        return f"coalesce(sum(f.{fact}), 0)::bigint AS {quote_ident(metric.name)}"
    assert metric.table.dimension is not None, metric
    dim = quote_ident(metric.table.dimension.name)
    return f"count(DISTINCT f.{dim}) FILTER (WHERE f.{fact} > 0) AS {quote_ident(metric.name)}"


def _key(grouping: Grouping) -> str:
    if grouping == "root":
        return "cp.root_campaign_id"
    return f"date_trunc('{grouping}', f.hour)"


def metric_queries(grouping: Grouping) -> list[MetricQuery]:
    """Queries grouping the metrics by root campaign, or by hour/day bucket, as column ``key``."""
    by_table: dict[str, list[DashboardMetric]] = {}
    for metric in DASHBOARD_METRICS:
        by_table.setdefault(metric.table.name, []).append(metric)
    queries = []
    for metrics in by_table.values():
        table = metrics[0].table
        columns = ",\n  ".join(_aggregate(m) for m in metrics)
        join = _ROOT_JOIN if grouping == "root" else ""
        sql = (
            f"SELECT {_key(grouping)} AS key,\n  {columns}\n"
            f"FROM {quote_ident(table.name)} f\n{join}"
            f"WHERE {_CAMPAIGNS} AND f.hour >= $2 AND f.hour < $3\n"
            "GROUP BY 1"
        )
        queries.append(MetricQuery(table, tuple(m.name for m in metrics), sql))
    return queries


def merge_rows(
    results: Iterable[tuple[MetricQuery, Iterable[Mapping[str, Any]]]],
    keys: Iterable[int | datetime] = (),
) -> dict[Any, dict[str, int]]:
    """``{key: {metric: value}}`` with every metric present (0 where no row), for ``keys`` and
    every key found in the rows."""
    merged: dict[Any, dict[str, int]] = {key: dict.fromkeys(METRIC_NAMES, 0) for key in keys}
    for query, rows in results:
        for row in rows:
            values = merged.setdefault(row["key"], dict.fromkeys(METRIC_NAMES, 0))
            for name in query.metrics:
                values[name] = int(row[name])
    return merged
