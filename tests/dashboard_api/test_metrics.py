"""The metric SQL is derived from shared.facts (pure rendering tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.dashboard_api.metrics import METRIC_NAMES, merge_rows, metric_queries
from shared.facts import DASHBOARD_METRICS


@pytest.mark.parametrize("grouping", ["root", "hour", "day"])
def test_every_metric_queried_once_from_its_table(grouping: str) -> None:
    queries = metric_queries(grouping)  # type: ignore[arg-type]
    assert sorted(n for q in queries for n in q.metrics) == sorted(METRIC_NAMES)
    for metric in DASHBOARD_METRICS:
        (query,) = [q for q in queries if metric.name in q.metrics]
        assert f'FROM "{metric.table.name}" f' in query.sql
        assert f'f."{metric.fact.name}"' in query.sql


def test_distinct_and_sum_renderings() -> None:
    sql = {q.table.slug: q.sql for q in metric_queries("root")}
    assert (
        'count(DISTINCT f."friend_fbid") FILTER (WHERE f."friends_shared_with" > 0)'
        in sql["friend_fbid"]
    )
    assert 'coalesce(sum(f."clicks"), 0)::bigint AS "clicks"' in sql["misc"]
    assert "cp.root_campaign_id AS key" in sql["misc"]


@pytest.mark.parametrize(
    ("grouping", "key"),
    [("hour", "date_trunc('hour', f.hour)"), ("day", "date_trunc('day', f.hour)")],
)
def test_time_bucket_key(grouping: str, key: str) -> None:
    assert all(q.sql.startswith(f"SELECT {key} AS key") for q in metric_queries(grouping))  # type: ignore[arg-type]


def test_merge_fills_zeros_for_missing_keys_and_metrics() -> None:
    visits, misc = metric_queries("root")[0], metric_queries("root")[1]
    t = datetime(2026, 1, 1, tzinfo=UTC)
    merged = merge_rows([(visits, [{"key": 5, "visits": 3}]), (misc, [])], keys=[5, 6])
    assert merged[5]["visits"] == 3 and merged[5]["clicks"] == 0
    assert merged[6] == dict.fromkeys(METRIC_NAMES, 0)
    assert merge_rows([(visits, [{"key": t, "visits": 1}])])[t]["visits"] == 1
