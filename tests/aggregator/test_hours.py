"""Pure planning, parsing and rendering: hours of ``queue``, job ids, DDL, load SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.aggregator.describe import describe_text
from services.aggregator.errors import BadRequest
from services.aggregator.hours import job_id, parse_hour, plan_hours, tables
from services.aggregator.schema import WAREHOUSE_TABLES
from services.aggregator.sql import load_params, select_sql
from shared.facts import FACT_TABLES, fact_table

NOW = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)


def h(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "count", "first", "last"),
    [
        ({}, 2, h(20, 13), h(20, 14)),
        ({"days_back": 3}, 72, h(17, 15), h(20, 14)),
        ({"start_date": date(2026, 11, 1), "end_date": date(2026, 11, 8)}, 168, h(1, 0), h(7, 23)),
        ({"start_date": date(2026, 11, 20)}, 15, h(20, 0), h(20, 14)),
        (
            {"start_date": date(2026, 11, 20), "end_date": date(2026, 11, 21)},
            15,
            h(20, 0),
            h(20, 14),
        ),
    ],
)
def test_plan_hours(kwargs, count, first, last) -> None:
    hours = plan_hours(NOW, **kwargs)
    assert (len(hours), hours[0], hours[-1]) == (count, first, last)
    assert hours == sorted(set(hours))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end_date": date(2026, 11, 8)}, "--end-date needs --start-date"),
        ({"start_date": date(2026, 11, 8), "end_date": date(2026, 11, 1)}, "must be after"),
        ({"start_date": date(2026, 11, 8), "end_date": date(2026, 11, 8)}, "must be after"),
        ({"days_back": 2, "start_date": date(2026, 11, 8)}, "cannot be combined"),
        ({"days_back": 0}, "at least 1"),
        ({"start_date": date(2026, 11, 21)}, "in the future"),
        ({"start_date": date(2026, 11, 1), "end_date": date(2026, 11, 22)}, "in the future"),
    ],
)
def test_plan_hours_rejects_bad_combinations(kwargs, message) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        plan_hours(NOW, **kwargs)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "hour"),
    [
        ("2026-11-20T14", h(20, 14)),
        ("2026-11-20T14:00:00+00:00", h(20, 14)),
        ("2026-11-20T16:30:00+02:00", h(20, 14)),
        ("2026-11-20 14:59:59", h(20, 14)),
    ],
)
def test_parse_hour(text, hour) -> None:
    assert parse_hour(text) == hour


@pytest.mark.parametrize("text", ["2026-11-20", "yesterday", "2026-11-20T25", ""])
def test_parse_hour_rejects_malformed(text) -> None:
    with pytest.raises(BadRequest):
        parse_hour(text)


def test_job_id_and_table_lookup() -> None:
    assert job_id(fact_table("visit"), h(20, 14)) == "aggregate:visit:2026-11-20T14"
    assert tables("ip_facts_hourly") == (fact_table("ip"),)
    assert tables(None) == FACT_TABLES
    with pytest.raises(BadRequest, match="unknown fact table 'nope'"):
        tables("nope")


def test_schema_has_one_column_per_fact_and_the_keys() -> None:
    by_name = {t.name: t for t in WAREHOUSE_TABLES}
    for fact in FACT_TABLES:
        schema = by_name[fact.name]
        keys = ("campaign_id", "hour") + ((fact.dimension.name,) if fact.dimension else ())
        assert schema.primary_key == keys
        assert schema.column_names == keys + tuple(f.name for f in fact.facts)
        assert [i.columns for i in schema.indexes] == [("hour",), ("campaign_id", "hour")]


def test_load_sql_is_half_open_and_binds_values() -> None:
    table = fact_table("visit")
    sql = select_sql(table)
    assert '"events"."created" >= $1' in sql and '"events"."created" < $2' in sql
    assert "auth_fail" not in sql and "ELSE" not in sql  # types are parameters; no `else 0`
    params = load_params(table, h(20, 14), h(20, 15))
    assert params[2:] == [list(f.event_types) for f in table.facts]
    assert f"${len(params)}::text[]" in sql


def test_describe_lists_every_fact() -> None:
    text = describe_text()
    for table in FACT_TABLES:
        assert table.name in text
        for fact in table.facts:
            assert fact.name in text and fact.pretty_name in text
