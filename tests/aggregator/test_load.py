"""Loading fact hours against a real warehouse: the old fixture, boundaries, every fact,
idempotence, day batches, concurrent and overlapping loads, outbox acknowledgement."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from services.aggregator.runner import HourLocked, load_range
from services.aggregator.verify import verify_table
from shared.facts import FACT_TABLES, fact_table
from tests.aggregator.fixture import (
    CAMPAIGN,
    HOUR,
    fact_sums,
    insert_events,
    insert_raw,
    load_hour,
)

EXPECTED = {
    "fbid": {
        "fbids_authorized": 2,
        "fbids_generated_friends": 2,
        "fbids_shown_friends": 2,
        "fbids_face_pages": 2,
        "fbids_shared": 1,
    },
    "visit": {
        "visit_ids": 1,
        "visits_declined_auth": 0,
        "visits_generated_faces": 2,
        "visits_facepage_rendered": 2,
        "visits_shown_friend_sugg": 2,
        "authorized_visits": 3,
        "visits_with_shares": 1,
        "visits_with_share_clicks": 0,
    },
    "ip": {
        "ip_session_start": 0,
        "ip_cookies": 0,
        "ip_visitors": 1,
        "ips_declined_auth": 0,
        "ips_authorized": 3,
    },
    "friend_fbid": {"distinct_faces_shown": 0, "friends_shared_with": 1},
    "misc": {
        "visitors": 1,
        "clicks": 0,
        "no_friends": 0,
        "declined_auth": 0,
        "authorizations": 3,
        "total_faces_shown": 2,
        "total_shares": 1,
        "shares_failed": 0,
        "clickbacks": 0,
    },
}


async def _load_all(pool: asyncpg.Pool, hour=HOUR) -> dict[str, int]:
    return {t.slug: await load_hour(pool, t, hour) for t in FACT_TABLES}


async def test_old_fixture_sums(warehouse: asyncpg.Pool) -> None:
    await insert_raw(warehouse)
    rows = await _load_all(warehouse)
    assert rows == {"fbid": 2, "friend_fbid": 1, "visit": 4, "ip": 4, "misc": 1}
    for slug, expected in EXPECTED.items():
        assert await fact_sums(warehouse, slug, HOUR) == expected, slug
    # the 04:00 copies are not in the 02 hour, nor in the 03 hour
    assert await _load_all(warehouse, HOUR + timedelta(hours=1)) == dict.fromkeys(EXPECTED, 0)


async def test_event_at_hour_boundary_counts_only_in_the_later_hour(
    warehouse: asyncpg.Pool,
) -> None:
    await insert_raw(warehouse)
    boundary = HOUR + timedelta(hours=1)
    await insert_events(warehouse, [(100, 10, CAMPAIGN, None, "button_click", boundary)])
    misc = fact_table("misc")
    await load_hour(warehouse, misc, HOUR)
    await load_hour(warehouse, misc, boundary)
    assert (await fact_sums(warehouse, "misc", HOUR))["clicks"] == 0
    assert (await fact_sums(warehouse, "misc", boundary))["clicks"] == 1


async def test_visits_declined_auth_counts_only_declining_visits(warehouse: asyncpg.Pool) -> None:
    await insert_raw(warehouse)
    inside = HOUR + timedelta(minutes=5)
    await insert_events(
        warehouse,
        [
            (100, 11, CAMPAIGN, None, "auth_fail", inside),
            (101, 13, CAMPAIGN, None, "oauth_declined", inside),
        ],
    )
    await _load_all(warehouse)
    assert (await fact_sums(warehouse, "visit", HOUR))["visits_declined_auth"] == 2
    assert (await fact_sums(warehouse, "ip", HOUR))["ips_declined_auth"] == 2
    assert (await fact_sums(warehouse, "misc", HOUR))["declined_auth"] == 2
    assert (await fact_sums(warehouse, "visit", HOUR))["visit_ids"] == 1


@pytest.mark.parametrize("table", FACT_TABLES, ids=lambda t: t.slug)
async def test_every_fact_counts_its_event_types(warehouse: asyncpg.Pool, table) -> None:
    """Per fact its own campaign with two events of each of its types on two visits (two
    fbids, ips, friends): a distinct fact counts 1 per entity, a sum fact counts events, and
    no other fact of the table counts them."""
    await insert_raw(warehouse)
    await warehouse.execute("DELETE FROM events")
    inside = HOUR + timedelta(minutes=10)
    rows = [(999, 10, 1, 777, "unrelated", inside)]
    for i, fact in enumerate(table.facts):
        for kind in fact.event_types:
            for visit, friend in ((10, 500), (12, 501), (10, 500), (12, 501)):
                rows.append((len(rows) + 1000, visit, 100 + i, friend, kind, inside))
    await insert_events(warehouse, rows)
    await load_hour(warehouse, table, HOUR)
    names = [f.name for f in table.facts]
    sums = ", ".join(f"coalesce(sum({n}), 0)::int AS {n}" for n in names)
    sql = f"SELECT {sums} FROM {table.name} WHERE campaign_id = $1"  # noqa: S608 ours
    assert dict(await warehouse.fetchrow(sql, 1)) == dict.fromkeys(names, 0)  # "unrelated"
    for i, fact in enumerate(table.facts):
        expected = 4 * len(fact.event_types) if fact.kind == "sum" else 2
        got = dict(await warehouse.fetchrow(sql, 100 + i))
        assert got == {n: expected if n == fact.name else 0 for n in names}, fact.name


async def test_rerun_is_idempotent_and_picks_up_late_rows(warehouse: asyncpg.Pool) -> None:
    await insert_raw(warehouse)
    first = await _load_all(warehouse)
    assert await _load_all(warehouse) == first
    assert (await fact_sums(warehouse, "misc", HOUR))["authorizations"] == 3
    late = HOUR + timedelta(minutes=59, seconds=59)
    await insert_events(warehouse, [(300, 13, CAMPAIGN, None, "authorized", late)])
    await _load_all(warehouse)
    assert (await fact_sums(warehouse, "misc", HOUR))["authorizations"] == 4
    assert (await fact_sums(warehouse, "visit", HOUR))["authorized_visits"] == 4


async def test_concurrent_loads_of_one_hour_leave_one_copy(warehouse: asyncpg.Pool) -> None:
    await insert_raw(warehouse)
    visit = fact_table("visit")
    results = await asyncio.gather(*(load_hour(warehouse, visit, HOUR) for _ in range(4)))
    assert results == [4, 4, 4, 4]
    count = await warehouse.fetchval(
        "SELECT count(*) FROM visit_facts_hourly WHERE hour = $1", HOUR
    )
    assert count == 4


async def _rows(pool: asyncpg.Pool, table: str) -> list[tuple]:
    return [tuple(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]  # noqa: S608


async def test_a_day_batch_equals_its_hours_loaded_one_by_one(warehouse: asyncpg.Pool) -> None:
    await insert_raw(warehouse)
    day = HOUR.replace(hour=0)
    for table in FACT_TABLES:
        for i in range(24):
            await load_hour(warehouse, table, day + timedelta(hours=i))
    by_hour = {t.name: await _rows(warehouse, t.name) for t in FACT_TABLES}
    for table in FACT_TABLES:
        await warehouse.execute(f"TRUNCATE {table.name}")  # noqa: S608 ours
        assert await load_range(warehouse, table, day, day + timedelta(days=1), 30) > 0
        assert await _rows(warehouse, table.name) == by_hour[table.name]
        assert {r[1] for r in by_hour[table.name]} == {HOUR, HOUR + timedelta(hours=2)}
        difference = await verify_table(warehouse, table, day, day + timedelta(days=1))
        assert difference.differing == 0 and difference.rows == len(by_hour[table.name])


async def test_a_range_replaces_only_its_hours_and_acknowledges_their_outbox_rows(
    warehouse: asyncpg.Pool,
) -> None:
    await insert_raw(warehouse)
    misc = fact_table("misc")
    later = HOUR + timedelta(hours=2)  # the fixture's 04:00 copy
    await load_hour(warehouse, misc, later)
    await warehouse.execute("UPDATE misc_facts_hourly SET clicks = 99")  # marks the 04 hour
    outbox = [("misc", HOUR), ("misc", later), ("visit", HOUR)]
    await warehouse.executemany(
        "INSERT INTO aggregate_outbox (fact_table, hour, source, run_id) VALUES ($1, $2, 't', 'r')",
        outbox,
    )
    assert await load_range(warehouse, misc, HOUR, later, 30) == 1
    assert (await fact_sums(warehouse, "misc", later))["clicks"] == 99  # outside: untouched
    left = await warehouse.fetch("SELECT fact_table, hour FROM aggregate_outbox ORDER BY 1, 2")
    assert [tuple(r) for r in left] == [("misc", later), ("visit", HOUR)]


async def test_overlapping_loads_take_turns_and_a_long_wait_gives_up(
    warehouse: asyncpg.Pool,
) -> None:
    await insert_raw(warehouse)
    visit = fact_table("visit")
    day = HOUR.replace(hour=0)
    loads = [load_range(warehouse, visit, day, day + timedelta(days=1), 30)]
    loads += [load_hour(warehouse, visit, HOUR) for _ in range(3)]
    assert await asyncio.gather(*loads) == [8, 4, 4, 4]
    assert await warehouse.fetchval("SELECT count(*) FROM visit_facts_hourly") == 8

    async with warehouse.acquire() as holder, holder.transaction():
        await holder.execute(
            "SELECT pg_advisory_xact_lock(hashtext('aggregate:visit'), $1)",
            int(HOUR.timestamp()) // 3600,
        )
        with pytest.raises(HourLocked, match="another load held its hours for over 0.2s"):
            await load_range(warehouse, visit, day, day + timedelta(days=1), 0.2)
        await load_range(warehouse, fact_table("misc"), day, day + timedelta(days=1), 0.2)
