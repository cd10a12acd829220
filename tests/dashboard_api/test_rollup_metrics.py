"""Pure parts of the rollup reads and caches: summary plans, series slicing, bitmap unions,
the versioned LRU and ETag matching."""

from __future__ import annotations

import gc
import json
from datetime import timedelta

from services.dashboard_api.cache import VersionedCache, cache_key, etag, etag_matches
from services.dashboard_api.rollup_metrics import (
    DAY,
    METRIC_NAMES,
    build_blocks,
    day_span,
    series_points,
    summarize,
    summary_plan,
    with_points,
)
from shared.rollups import DISTINCT_METRICS, encode_ids
from tests.clock import days_ago, iso_z

HOUR = timedelta(hours=1)
D0 = days_ago(10)


def _row(kind: str, at, value: int, ids: list[int]) -> tuple:
    """A BLOCKS_SQL row (its point as Postgres renders it: see test_api for that)."""
    metrics = [value] * len(METRIC_NAMES)
    point = json.dumps({"start": iso_z(at), "metrics": dict.fromkeys(METRIC_NAMES, value)}).encode()
    return (kind, 7, at, *metrics, point, *(encode_ids(ids) for _ in DISTINCT_METRICS))


def _points(blocks, start, end, grain) -> list:
    """The points of a series answer over the blocks."""
    empty = json.dumps({"campaign_id": 7, "points": []}, separators=(",", ":"))
    answer = json.loads(with_points(empty, series_points(blocks, start, end, grain)))
    assert answer["campaign_id"] == 7
    return answer["points"]


def test_summary_plan_takes_whole_days_inside_and_hours_around() -> None:
    plan = summary_plan(D0 + 5 * HOUR, D0 + 2 * DAY + 3 * HOUR)
    assert (plan.days_start, plan.days_end) == (D0 + DAY, D0 + 2 * DAY)
    plan = summary_plan(D0 + HOUR, D0 + 20 * HOUR)  # no whole day inside
    assert plan.days_start == plan.days_end == D0 + 20 * HOUR
    plan = summary_plan(D0, D0 + DAY)
    assert (plan.days_start, plan.days_end) == (D0, D0 + DAY)
    assert day_span(D0 + HOUR, D0 + DAY + HOUR) == [D0, D0 + DAY]


def test_summaries_of_any_whole_hour_range_equal_the_hours_added_up() -> None:
    """Ranges over 40 days of a fixture whose days are their hours unioned (as the
    aggregator's rollups are): the summary gives the sums and distinct counts the hourly
    rows give, counted one by one, whether the range starts and ends on a day or not."""
    days = day_span(D0, D0 + 40 * DAY)
    rows, hourly = [], []
    for n, day in enumerate(days):
        hours = [
            (day + h * HOUR, n * 24 + h, {(n * 24 + h) % 37, h}) for h in range(24) if (n + h) % 5
        ]
        rows += [_row("h", at, value, sorted(ids)) for at, value, ids in hours]
        day_ids = sorted(set().union(*(ids for _, _, ids in hours)))
        rows.append(_row("d", day, sum(v for _, v, _ in hours), day_ids))
        hourly += hours
    blocks = build_blocks(rows, [7], days)
    ordered = [blocks[7, day] for day in days]
    for first, hours in [(0, 960), (5, 24 * 30), (7, 13), (23, 2), (72, 24 * 17), (1, 934)]:
        start, end = D0 + first * HOUR, D0 + (first + hours) * HOUR
        inside = [(value, ids) for at, value, ids in hourly if start <= at < end]
        metrics = summarize(ordered, summary_plan(start, end))
        assert metrics["clicks"] == sum(v for v, _ in inside)
        assert metrics["visits"] == len(set().union(*(ids for _, ids in inside)))


def test_blocks_give_exact_distinct_counts_and_sliced_series() -> None:
    rows = [
        _row("h", D0 + 22 * HOUR, 1, [1, 2]),
        _row("h", D0 + 23 * HOUR, 2, [2, 3]),
        _row("d", D0, 3, [1, 2, 3]),
        _row("h", D0 + DAY, 4, [3, 4]),
        _row("d", D0 + DAY, 4, [3, 4]),
    ]
    days = day_span(D0, D0 + 2 * DAY)
    blocks = build_blocks(reversed(rows), [7, 8], days)
    assert blocks[8, D0] == (D0, (), None, b"")  # empty, cached too
    ordered = [blocks[7, d] for d in days]
    # hours 22:00 to 01:00 the next day: sums add, ids are unioned (2 and 3 counted once)
    metrics = summarize(ordered, summary_plan(D0 + 22 * HOUR, D0 + DAY + HOUR))
    assert metrics["clicks"] == 1 + 2 + 4 and metrics["visits"] == 4
    metrics = summarize(ordered, summary_plan(D0, D0 + 2 * DAY))  # the daily rows
    assert metrics["clicks"] == 3 + 4 and metrics["visits"] == 4
    points = _points(ordered, D0 + 23 * HOUR, D0 + 2 * DAY, "hour")
    assert [p["start"] for p in points] == [iso_z(D0 + 23 * HOUR), iso_z(D0 + DAY)]
    assert points[0]["metrics"] == dict.fromkeys(METRIC_NAMES, 2)
    daily = _points(ordered, D0 + DAY, D0 + 2 * DAY, "day")
    assert [p["start"] for p in daily] == [iso_z(D0 + DAY)]


def test_cached_blocks_are_left_out_of_the_cycle_collector() -> None:
    """A full collection walks every tracked object: the block cache must add none, once the
    collector has seen it (a tuple is untracked when its items are: one level of nesting a
    collection, at worst)."""
    rows = [_row("h", D0 + h * HOUR, h, [h, h + 1]) for h in range(24)] + [_row("d", D0, 1, [1])]
    blocks = build_blocks(rows, [7], day_span(D0, D0 + DAY))
    for _ in range(4):  # block, its hours, a bucket, a bucket's metrics
        gc.collect()
    assert blocks[7, D0][2] is not None and len(blocks[7, D0][1]) == 24
    assert not any(gc.is_tracked(block) for block in blocks.values())


def test_versioned_cache_and_etags() -> None:
    cache = VersionedCache(2)
    cache.put(1, "a", b"1a")
    cache.put(1, "b", b"1b")
    assert cache.get(1, "a") == b"1a" and cache.get(2, "a") is None
    cache.put(2, "a", b"2a")  # evicts the least recently used: (1, "b")
    assert cache.get(1, "b") is None and len(cache) == 2
    sized = VersionedCache(10, max_bytes=5)
    sized.put(1, "a", b"12")
    sized.put(1, "b", b"345")
    sized.put(1, "c", b"6")  # 6 bytes: the least recently used goes
    assert sized.get(1, "a") is None and sized.bytes == 4 and len(sized) == 2
    sized.put(1, "b", b"34")  # replaced: counted once
    sized.put(1, "d", b"123456")  # longer than the whole cache: not kept
    assert sized.bytes == 3 and sized.get(1, "d") is None and sized.get(1, "b") == b"34"
    key = cache_key("GET", "/api/campaigns/1?start=x", False, (1, 2))
    assert key != cache_key("GET", "/api/campaigns/1?start=x", True, ())
    tag = etag(5, key)
    assert tag.startswith('"v5-') and etag(6, key) != tag
    assert etag_matches(f'"other", W/{tag}', tag) and etag_matches("*", tag)
    assert not etag_matches('"v5-0"', tag) and not etag_matches("", tag)
