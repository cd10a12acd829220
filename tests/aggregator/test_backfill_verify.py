"""Backfills as day batches: a backfill killed mid-way and run again equals a clean one;
``forklift aggregate verify`` finds 0 differing rows on a clean range and exactly the rows
an operator corrupted. Data is relative to the current time."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.aggregator.hours import floor_hour
from services.main import cli
from shared.cli import run_cli
from shared.facts import FACT_TABLES
from tests.aggregator.fixture import generate_raw

DAYS = 8


def _window() -> tuple[datetime, datetime]:
    """[start, end): the DAYS whole UTC days before yesterday."""
    end = floor_hour(datetime.now(UTC)).replace(hour=0) - timedelta(days=1)
    return end - timedelta(days=DAYS), end


def _queue_args(start: datetime, end: datetime) -> list[str]:
    return [
        *("aggregate", "queue", "--inline"),
        *("--start-date", f"{start:%Y-%m-%d}", "--end-date", f"{end:%Y-%m-%d}"),
    ]


async def _snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple]]:
    return {
        t.name: [tuple(r) for r in await pool.fetch(f"SELECT * FROM {t.name} ORDER BY 1, 2, 3")]  # noqa: S608 ours
        for t in FACT_TABLES
    }


async def _days_loaded(pool: asyncpg.Pool) -> int:
    """(table, day) batches committed so far."""
    total = 0
    for table in FACT_TABLES:
        sql = f"SELECT count(DISTINCT date_trunc('day', hour)) FROM {table.name}"  # noqa: S608
        total += await pool.fetchval(sql)
    return total


async def test_backfill_killed_mid_way_and_resumed_equals_a_clean_one(
    cli_env: dict, warehouse: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = _window()
    await generate_raw(warehouse, 24_000, start, end - start)
    env = {**os.environ, **cli_env, "FORKLIFT_AGGREGATOR_INLINE_CONCURRENCY": "1"}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services", *_queue_args(start, end)),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while await _days_loaded(warehouse) == 0:
            assert time.monotonic() < deadline and process.returncode is None
            await asyncio.sleep(0.005)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
    interrupted = await _days_loaded(warehouse)
    assert 0 < interrupted < DAYS * len(FACT_TABLES)  # really mid-way

    assert await asyncio.to_thread(run_cli, cli, _queue_args(start, end)) == 0
    assert f"{DAYS * 24} hours in {DAYS} batches x 5 tables" in capsys.readouterr().out
    resumed = await _snapshot(warehouse)
    assert await _days_loaded(warehouse) == DAYS * len(FACT_TABLES)

    for table in FACT_TABLES:
        await warehouse.execute(f"TRUNCATE {table.name}")  # noqa: S608 ours
    assert await asyncio.to_thread(run_cli, cli, _queue_args(start, end)) == 0
    assert await _snapshot(warehouse) == resumed
    assert all(resumed.values())


async def test_verify_reports_zero_then_exactly_the_corrupted_rows(
    cli_env: dict, warehouse: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = _window()
    await generate_raw(warehouse, 20_000, start, end - start)
    assert await asyncio.to_thread(run_cli, cli, _queue_args(start, end)) == 0
    capsys.readouterr()
    verify = ["aggregate", "verify", "--start", f"{start:%Y-%m-%d}", "--end", f"{end:%Y-%m-%d}"]
    assert await asyncio.to_thread(run_cli, cli, verify) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(" differing=0 (" in line for line in lines[:5])
    assert lines[-1] == f"OK: 0 differing rows in [{start:%Y-%m-%dT%H}, {end:%Y-%m-%dT%H})"

    hour = start + timedelta(days=3, hours=5)
    await warehouse.execute(
        "UPDATE visit_facts_hourly SET visit_ids = visit_ids + 1"
        " WHERE (campaign_id, hour, visit_id) IN"
        " (SELECT campaign_id, hour, visit_id FROM visit_facts_hourly WHERE hour = $1 LIMIT 1)",
        hour,
    )
    await warehouse.execute(
        "DELETE FROM misc_facts_hourly WHERE ctid IN"
        " (SELECT ctid FROM misc_facts_hourly WHERE hour = $1 LIMIT 1)",
        hour,
    )
    await warehouse.execute(
        "INSERT INTO ip_facts_hourly (campaign_id, hour, ip) VALUES (7, $1, '192.0.2.1')", hour
    )
    outside = end + timedelta(hours=1)  # outside the range: not counted
    await warehouse.execute(
        "INSERT INTO misc_facts_hourly (campaign_id, hour) VALUES (1, $1)", outside
    )
    assert await asyncio.to_thread(run_cli, cli, verify) == 1
    out = capsys.readouterr().out
    assert " differing=1 (missing=0 extra=0 changed=1)" in out.split("visit_facts_hourly")[1]
    assert "misc_facts_hourly rows=" in out and "differing=1 (missing=1 extra=0" in out
    assert "differing=1 (missing=0 extra=1 changed=0)" in out.split("ip_facts_hourly")[1]
    assert "fbid_facts_hourly rows=" in out and out.count(" differing=0 ") == 2
    assert out.splitlines()[-1].startswith("DIFFERENT: 3 differing rows in ")

    one_table = [*verify, "--table", "fbid"]
    assert await asyncio.to_thread(run_cli, cli, one_table) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-02-01", "--end", "2026-01-01"], "--end 2026-01-01 must be after"),
        (["--start", "yesterday", "--end", "2026-01-01"], "--start: malformed 'yesterday'"),
        (["--start", "2026-01-01", "--end", "2026-01-02", "--table", "x"], "unknown fact table"),
    ],
)
def test_verify_rejects_bad_ranges(args, message, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli, ["aggregate", "verify", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("forklift: error: ") and message in err
