"""Pure planning, parsing and rendering: hours of ``queue``, batches, job ids, DDL, load
SQL, and how raw tables reach the facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.aggregator.describe import describe_text
from services.aggregator.errors import BadRequest
from services.aggregator.hours import (
    batches,
    job_id,
    parse_bound,
    parse_hour,
    plan_hours,
    tables,
)
from services.aggregator.schema import WAREHOUSE_TABLES
from services.aggregator.sql import load_statements, select_params, select_sql
from shared.facts import FACT_TABLES, Dimension, Fact, FactTable, fact_table, reaches, reaches_of
from shared.outbox import AGGREGATE_OUTBOX

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


@pytest.mark.parametrize(
    ("text", "moment"), [("2026-11-20", h(20, 0)), ("2026-11-20T14", h(20, 14))]
)
def test_parse_bound(text, moment) -> None:
    assert parse_bound(text, "--start") == moment


def test_parse_bound_names_the_option() -> None:
    with pytest.raises(BadRequest, match="--end: malformed '2026-11'"):
        parse_bound("2026-11", "--end")


def test_batches_cut_runs_at_day_boundaries() -> None:
    month = plan_hours(NOW, start_date=date(2026, 10, 21), end_date=date(2026, 11, 20))
    days = batches(month, 24)
    assert len(days) == 30 and all(end - start == timedelta(days=1) for start, end in days)
    assert days[0] == (h(21, 0, month=10), h(22, 0, month=10))
    # a gap splits a run; a run crossing midnight is cut there
    assert batches([h(20, 22), h(20, 23), h(21, 0), h(21, 5)], 24) == [
        (h(20, 22), h(21, 0)),
        (h(21, 0), h(21, 1)),
        (h(21, 5), h(21, 6)),
    ]
    assert batches([h(20, 3), h(20, 1), h(20, 2), h(20, 2)], 1) == [
        (h(20, 1), h(20, 2)),
        (h(20, 2), h(20, 3)),
        (h(20, 3), h(20, 4)),
    ]
    assert len(batches(plan_hours(NOW, days_back=3), 24)) == 4  # partial, 2 whole, partial


def test_job_id_and_table_lookup() -> None:
    visit = fact_table("visit")
    assert job_id(visit, h(20, 14), h(20, 15)) == "aggregate:visit:2026-11-20T14"
    assert job_id(visit, h(20, 0), h(21, 0)) == "aggregate:visit:2026-11-20T00..2026-11-21T00"
    assert tables("ip_facts_hourly") == (fact_table("ip"),)
    assert tables(None) == FACT_TABLES
    with pytest.raises(BadRequest, match="unknown fact table 'nope'"):
        tables("nope")


def test_schema_has_one_column_per_fact_and_the_keys() -> None:
    by_name = {t.name: t for t in WAREHOUSE_TABLES}
    assert by_name[AGGREGATE_OUTBOX.name] == AGGREGATE_OUTBOX
    for fact in FACT_TABLES:
        schema = by_name[fact.name]
        keys = ("campaign_id", "hour") + ((fact.dimension.name,) if fact.dimension else ())
        assert schema.primary_key == keys
        assert schema.column_names == keys + tuple(f.name for f in fact.facts)
        assert [i.columns for i in schema.indexes] == [("hour",)]  # the key leads with campaign


def test_load_sql_is_half_open_and_binds_values() -> None:
    table = fact_table("visit")
    for sql in (select_sql(table), select_sql(table, exact=True)):
        assert '"events"."created" >= $1' in sql and '"events"."created" < $2' in sql
        assert "auth_fail" not in sql and "ELSE" not in sql  # types are parameters; no `else 0`
        assert 'date_trunc(\'hour\', "events"."created", \'UTC\') AS "hour"' in sql
    params = select_params(table, h(20, 14), h(20, 15))
    assert params[2:] == [list(f.event_types) for f in table.facts]
    assert f"${len(params)}::text[]" in select_sql(table)
    assert "count(DISTINCT" not in select_sql(table)  # one row per visit: no sort needed
    assert select_sql(table, exact=True).count("count(DISTINCT CASE WHEN") == len(table.facts)
    lock, acknowledge, clear, fill = load_statements(table)
    assert "pg_advisory_xact_lock" in lock and '"aggregate_outbox"' in acknowledge
    assert clear.startswith('DELETE FROM "visit_facts_hourly" WHERE "hour" >= $1')
    assert fill.startswith('INSERT INTO "visit_facts_hourly" ("campaign_id", "hour", "visit_id"')
    assert fill.endswith("GROUP BY 1, 2, 3\nORDER BY 1, 2, 3")  # in primary key order


def test_reaches_follow_the_definition() -> None:
    [events] = reaches("events")
    assert (events.path, events.key, len(events.fact_tables)) == ((), None, 5)
    assert set(events.columns) == {"campaign_id", "created", "type", "visit_id", "friend_fbid"}
    [visits] = reaches("visits")
    assert visits.key == "visit_id" and set(visits.columns) == {"visit_id", "visitor_id", "ip"}
    assert [t.slug for t in visits.fact_tables] == ["fbid", "ip"]
    [visitors] = reaches("visitors")
    assert [j[0] for j in visitors.path] == ["visits", "visitors"]
    assert set(visitors.columns) == {"visitor_id", "fbid"}
    assert [t.slug for t in visitors.fact_tables] == ["fbid"]
    assert reaches("campaigns") == reaches("clients") == ()


def test_a_new_join_reaches_its_table_without_a_hand_list() -> None:
    """A fact table grouped by a column of a newly joined table makes that table reach."""
    by_campaign = FactTable(
        "client",
        Dimension("client_id", "campaigns.client_id", "bigint", "Client"),
        (Fact("client_auths", "Clients authorizing", ("authorized",), "distinct"),),
        joins=(("campaigns", "campaign_id", "campaign_id"),),
    )
    [campaigns] = [r for r in reaches_of((*FACT_TABLES, by_campaign)) if r.table == "campaigns"]
    assert set(campaigns.columns) == {"campaign_id", "client_id"}
    assert campaigns.fact_tables == (by_campaign,)


def test_describe_lists_every_fact() -> None:
    text = describe_text()
    for table in FACT_TABLES:
        assert table.name in text
        for fact in table.facts:
            assert fact.name in text and fact.pretty_name in text
