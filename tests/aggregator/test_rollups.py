"""The dashboard rollups equal the metrics computed straight from the fact tables, for every
hour and day of a fixture: after a load, after late data re-aggregated, after a rebuild."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.aggregator.rollup_sql import (
    bump_version_sql,
    ids_select_sql,
    redshift_rollup_ddl,
    sums_select_sql,
)
from services.aggregator.rollups import ROLLUP_FACT_TABLES, day_span, rebuild_rollups
from services.aggregator.runner import load_range
from services.main import cli
from shared.cli import run_cli
from shared.facts import DASHBOARD_METRICS, FACT_TABLES
from shared.rollups import DISTINCT_METRICS, decode_ids, ids_column
from tests.aggregator.fixture import generate_raw, insert_events
from tests.clock import days_ago

HOUR = timedelta(hours=1)
# 30 hours crossing a UTC midnight, days before today
START = days_ago(3) + 18 * HOUR
SPAN = 30 * HOUR
GOLDEN = Path(__file__).parent / "golden"


def _expected_sql(grain: str) -> str:
    """Every metric per (root, bucket), written independently of the rollup renderer:
    FILTER and a plain join, one metric per subquery."""
    parts = []
    for metric in DASHBOARD_METRICS:
        fact, table = metric.fact.name, metric.table
        if metric.fact.kind == "sum":
            value = f"sum(f.{fact})"
        else:
            value = f"count(DISTINCT f.{table.dimension.name}) FILTER (WHERE f.{fact} > 0)"
        parts.append(
            f"SELECT '{metric.name}' AS metric, p.root_campaign_id AS root,"
            f" date_trunc('{grain}', f.hour, 'UTC') AS bucket, {value} AS value"
            f" FROM {table.name} f JOIN campaign_properties p USING (campaign_id)"
            " WHERE f.hour >= $1 AND f.hour < $2 GROUP BY 2, 3"
        )
    return " UNION ALL ".join(parts)


async def _expected(pool: asyncpg.Pool, grain: str, start: datetime, end: datetime) -> dict:
    result: dict = {}
    for row in await pool.fetch(_expected_sql(grain), start, end):
        values = result.setdefault((row["root"], row["bucket"]), {})
        values[row["metric"]] = int(row["value"])
    return {k: v for k, v in result.items() if any(v.values())}


async def _stored(pool: asyncpg.Pool, grain: str) -> dict:
    table, bucket = (
        ("dashboard_rollup_hourly", "hour")
        if grain == "hour"
        else (
            "dashboard_rollup_daily",
            "day",
        )
    )
    stored = {}
    for row in await pool.fetch(f"SELECT * FROM {table}"):  # noqa: S608 test names
        values = {m.name: row[m.name] for m in DASHBOARD_METRICS}
        for metric in DISTINCT_METRICS:  # each bitmap holds exactly the counted ids
            assert len(decode_ids(row[ids_column(metric)])) == values[metric.name]
        if any(values.values()):
            stored[row["root_campaign_id"], row[bucket]] = values
    return stored


async def assert_rollups_match(pool: asyncpg.Pool) -> None:
    first_day, end_day = day_span(START, START + SPAN + 24 * HOUR)
    for grain in ("hour", "day"):
        expected = await _expected(pool, grain, first_day, end_day)
        assert expected, "the fixture has facts"
        assert await _stored(pool, grain) == expected


async def _seed(pool: asyncpg.Pool) -> None:
    await generate_raw(pool, 3000, START, SPAN)
    # 40 campaigns, roots 1, 5, 9, ... each of itself and the next three
    await pool.execute(
        "INSERT INTO campaign_properties (campaign_property_id, campaign_id, root_campaign_id)"
        " SELECT c, c, c - (c - 1) % 4 FROM generate_series(1, 40) c"
    )


async def _load(pool: asyncpg.Pool, start: datetime, end: datetime) -> None:
    for table in FACT_TABLES:
        await load_range(pool, table, start, end, lock_wait_s=30)


async def _version(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT version FROM dashboard_data_version") or 0)


async def test_rollups_equal_facts_after_load_late_data_and_rebuild(
    warehouse: asyncpg.Pool,
) -> None:
    await _seed(warehouse)
    first_day, end_day = day_span(START, START + SPAN)
    await _load(warehouse, first_day, end_day)
    await assert_rollups_match(warehouse)
    loaded = await _version(warehouse)
    assert loaded > 0

    # late data: events of an already loaded hour (new and known ids), and of a new hour
    late_hour = START + 5 * HOUR
    next_day = end_day + 2 * HOUR
    rows = [
        (900_000 + i, 1 + i, 1 + i % 40, 200_000_000_000 + i, kind, when)
        for i, (kind, when) in enumerate(
            [(k, late_hour + timedelta(minutes=7)) for k in ("incoming_redirect", "shared")] * 20
            + [(k, next_day) for k in ("authorized", "button_click", "shared", "clickback")]
        )
    ]
    await insert_events(warehouse, rows)
    before = await _expected(warehouse, "day", first_day, end_day + 24 * HOUR)
    await _load(warehouse, late_hour, late_hour + HOUR)
    await _load(warehouse, next_day, next_day + HOUR)
    after = await _expected(warehouse, "day", first_day, end_day + 24 * HOUR)
    assert after != before
    await assert_rollups_match(warehouse)
    assert await _version(warehouse) > loaded

    # a rebuild from the facts alone gives the same rollups
    await warehouse.execute("DELETE FROM dashboard_rollup_hourly")
    await warehouse.execute("DELETE FROM dashboard_rollup_daily")
    days, version = await rebuild_rollups(warehouse)
    assert days == (end_day + 24 * HOUR - first_day) // timedelta(days=1)
    assert version > loaded
    await assert_rollups_match(warehouse)


async def test_a_vanished_hour_leaves_no_rollup(warehouse: asyncpg.Pool) -> None:
    await _seed(warehouse)
    first_day, end_day = day_span(START, START + SPAN)
    await _load(warehouse, first_day, end_day)
    await warehouse.execute(
        "DELETE FROM events WHERE created >= $1 AND created < $2", START, START + HOUR
    )
    await _load(warehouse, START, START + HOUR)
    hours = await warehouse.fetchval(
        "SELECT count(*) FROM dashboard_rollup_hourly WHERE hour = $1", START
    )
    assert hours == 0
    await assert_rollups_match(warehouse)


def _rollup_sql() -> str:
    """Every rollup SELECT of every dashboard fact table, as the golden file holds them."""
    parts = []
    for table in ROLLUP_FACT_TABLES:
        for sql in (sums_select_sql(table), ids_select_sql(table, "redshift")):
            if sql is not None:
                parts.append(f"-- {table.name}\n{sql};\n")
    return "\n".join(parts)


def test_rollup_sql_redshift_golden() -> None:
    """Redshift's rollup SELECTs: no FILTER, arrays, ON CONFLICT or Postgres casts to types
    Redshift lacks (Postgres gathers each hour's ids as arrays instead)."""
    golden = (GOLDEN / "rollup_redshift.sql").read_text()
    assert _rollup_sql() == golden
    for word in ("FILTER", "ON CONFLICT", "ANY(", "::integer"):
        assert word not in golden


def test_redshift_rollup_ddl_golden() -> None:
    golden = (GOLDEN / "rollup_ddl_redshift.sql").read_text()
    assert ";\n\n".join(redshift_rollup_ddl()) + ";\n" == golden
    assert "ON CONFLICT" not in bump_version_sql("redshift")


async def test_cli_rollups_rebuild_backfills_existing_facts(
    cli_env: dict, warehouse: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    await _seed(warehouse)
    first_day, end_day = day_span(START, START + SPAN)
    await _load(warehouse, first_day, end_day)
    await warehouse.execute("DELETE FROM dashboard_rollup_hourly")
    await warehouse.execute("DELETE FROM dashboard_rollup_daily")  # as before the rollups
    assert await asyncio.to_thread(run_cli, cli, ["aggregate", "rollups", "--rebuild"]) == 0
    days = (end_day - first_day) // timedelta(days=1)
    assert f"rebuilt {days} days of rollups, data version" in capsys.readouterr().out
    await assert_rollups_match(warehouse)
    assert await asyncio.to_thread(run_cli, cli, ["aggregate", "rollups"]) == 0
    assert capsys.readouterr().out.startswith("rollup hours=")
    args = ["aggregate", "rollups", "--start", "2026-01-01"]
    assert await asyncio.to_thread(run_cli, cli, args) == 2
