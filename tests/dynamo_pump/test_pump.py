"""The pump end to end on moto and the warehouse: plan, fetch, upsert, bookkeeping."""

import asyncio
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.dynamo_pump.pump import Pump, plan
from services.dynamo_pump.tables import edge_item, put_items, user_item


async def _seed_warehouse(
    warehouse: asyncpg.Pool, user_clients: list[int], visitors: list[int]
) -> None:
    await warehouse.executemany(
        "INSERT INTO user_clients (user_client_id, fbid, client_id) VALUES ($1, $2, 1)",
        list(enumerate(user_clients, 1)),
    )
    await warehouse.executemany(
        "INSERT INTO visitors (visitor_id, uuid, fbid) VALUES ($1, $2, $3)",
        [(i, str(i), f) for i, f in enumerate(visitors, 1)],
    )


async def _drain(pump: Pump) -> int:
    steps = 0
    while await pump.step():
        steps += 1
    return steps


async def test_plan_and_pump_users_edges_and_misses(
    pump: Pump, warehouse: asyncpg.Pool, dynamo: Any
) -> None:
    s = pump.settings
    await put_items(dynamo, s.table("users"), [user_item(f) for f in (1, 2, 100, 101)])
    await put_items(
        dynamo, s.table("edges"), [edge_item(1, 100), edge_item(1, 101), edge_item(2, 102)]
    )
    await _seed_warehouse(warehouse, user_clients=[1, 2, 3], visitors=[1, 4])

    assert await plan(s, warehouse, pump.queues) == {
        "primary": 3,
        "edges": 4,
        "secondary": 0,
        "refresh": 0,
    }
    assert await plan(s, warehouse, pump.queues) == {
        "primary": 0,
        "edges": 0,
        "secondary": 0,
        "refresh": 0,
    }
    await _drain(pump)
    users = {r["fbid"]: r for r in await warehouse.fetch("SELECT * FROM users")}
    assert sorted(users) == [1, 2, 3]
    assert users[3]["not_found"] and users[3]["fname"] is None
    assert users[1]["fname"] == "First1" and users[1]["interests"] == '["hiking", "jazz", "topic1"]'
    edges = await warehouse.fetch("SELECT fbid_target, fbid_source FROM edges ORDER BY 1, 2")
    assert [tuple(r) for r in edges] == [(1, 100), (1, 101), (2, 102)]
    missing = await warehouse.fetch(
        "SELECT fbid, retries, next_try > now() AS wait FROM missing_edges ORDER BY 1"
    )
    assert [tuple(r) for r in missing] == [(3, 1, True), (4, 1, True)]

    # secondaries come from edges.fbid_source; misses wait for their next try
    assert await plan(s, warehouse, pump.queues) == {
        "primary": 0,
        "edges": 0,
        "secondary": 3,
        "refresh": 0,
    }
    await _drain(pump)
    assert await warehouse.fetchval("SELECT count(*) FROM users WHERE NOT not_found") == 4
    assert (await pump.queues.depths())["in_flight"] == 0


async def test_missing_edges_give_up_after_four_tries(pump: Pump, warehouse: asyncpg.Pool) -> None:
    await _seed_warehouse(warehouse, user_clients=[], visitors=[9])
    for tries in range(1, 6):
        await warehouse.execute("UPDATE missing_edges SET next_try = now() - interval '1 second'")
        added = await plan(pump.settings, warehouse, pump.queues)
        assert added["edges"] == (1 if tries <= 4 else 0)
        await _drain(pump)
    assert await warehouse.fetchval("SELECT retries FROM missing_edges WHERE fbid = 9") == 4


async def test_upserts_are_idempotent_and_edges_replaced(
    pump: Pump, warehouse: asyncpg.Pool, dynamo: Any
) -> None:
    s = pump.settings
    await put_items(dynamo, s.table("users"), [user_item(5)])
    await put_items(dynamo, s.table("edges"), [edge_item(5, 6), edge_item(5, 7)])
    for _ in range(2):
        await pump.process("primary", [5, 5])
        await pump.process("edges", [5])
    first = await warehouse.fetch("SELECT * FROM users")
    assert len(first) == 1 and await warehouse.fetchval("SELECT count(*) FROM edges") == 2
    await dynamo.delete_item(
        TableName=s.table("edges"), Key={"fbid_target": {"N": "5"}, "fbid_source": {"N": "7"}}
    )
    await pump.process("edges", [5])
    assert await warehouse.fetchval("SELECT array_agg(fbid_source) FROM edges") == [6]


async def test_edges_over_one_megabyte_are_read_page_by_page(
    pump: Pump, warehouse: asyncpg.Pool, dynamo: Any
) -> None:
    padding = {"padding": {"S": "p" * 4000}}
    items = [{**edge_item(77, source), **padding} for source in range(1, 301)]  # ~1.2 MB
    await put_items(dynamo, pump.settings.table("edges"), items)
    result = await pump.process("edges", [77])
    assert result["edges"] == 300
    assert result["rcu"] >= 300 * 4000 / 4096 * 0.5 - 2  # every page was charged
    assert await warehouse.fetchval("SELECT count(*) FROM edges WHERE fbid_target = 77") == 300


async def test_crash_mid_batch_loses_no_key(
    pump: Pump, warehouse: asyncpg.Pool, dynamo: Any
) -> None:
    await put_items(dynamo, pump.settings.table("users"), [user_item(f) for f in (1, 2)])
    await pump.queues.push("primary", [1, 2])
    await warehouse.execute("ALTER TABLE users RENAME TO users_gone")  # the write fails
    with capture_logs() as logs, pytest.raises(asyncpg.UndefinedTableError):
        await pump.step()
    assert await pump.queues.depths() == {
        "primary": 2,
        "edges": 0,
        "secondary": 0,
        "refresh": 0,
        "in_flight": 0,
    }
    await warehouse.execute("ALTER TABLE users_gone RENAME TO users")
    assert not [e for e in logs if e["event"] == "dynamo.batch.done"]

    # a pump killed while its batch is in flight: the lease expires and the keys come back
    pump.queues.lease_s = 0.1
    task = asyncio.create_task(pump.step())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.2)
    await pump.queues.requeue_expired()
    await _drain(pump)
    assert await warehouse.fetchval("SELECT count(*) FROM users") == 2


async def test_odd_items_are_cleaned_or_skipped_and_counted(
    pump: Pump, warehouse: asyncpg.Pool, dynamo: Any
) -> None:
    odd = {
        "fbid": {"N": "8"},
        "likes_count": {"S": "lots"},
        "fname": {"S": "nul\x00x"},
        "birthday": {"N": "0"},
    }
    huge = {"fbid": {"N": "9"}, "interests": {"SS": [f"i{n}" for n in range(5000)]}}
    await put_items(dynamo, pump.settings.table("users"), [odd, huge])
    with capture_logs() as logs:
        await pump.process("primary", [8, 9])
    row = await warehouse.fetchrow("SELECT * FROM users WHERE fbid = 8")
    assert row["likes_count"] is None and row["fname"] == "nulx" and row["birthday"] is None
    assert len(await warehouse.fetchval("SELECT interests FROM users WHERE fbid = 9")) == 4096
    assert pump.skipped == {"bad:likes_count": 1, "cut:interests": 1}
    assert {e["reason"] for e in logs if e["event"] == "dynamo.item.cleaned"} == {
        "bad:likes_count",
        "cut:interests",
    }
