"""Redis work queues: strict priority, no duplicates, leases, crash recovery."""

import asyncio

from redis.asyncio import Redis

from services.dynamo_pump.workqueue import KINDS, WorkQueues

LIMITS = {kind: 100 for kind in KINDS}


async def test_claims_follow_strict_priority(redis: Redis) -> None:
    queues = WorkQueues(redis, lease_s=60)
    await queues.push("refresh", [1])
    await queues.push("secondary", [2])
    await queues.push("edges", [3])
    await queues.push("primary", [4, 5])
    claims = [await queues.claim(LIMITS) for _ in range(5)]
    assert claims == [
        ("primary", [4, 5]),
        ("edges", [3]),
        ("secondary", [2]),
        ("refresh", [1]),
        None,
    ]


async def test_no_duplicate_entries_across_user_kinds_or_in_flight(redis: Redis) -> None:
    queues = WorkQueues(redis, lease_s=60)
    assert await queues.push("primary", [1, 2, 2]) == 2
    assert await queues.push("secondary", [2, 3]) == 1  # 2 is already queued as primary
    assert await queues.push("edges", [2]) == 1  # another fetch: queued separately
    assert await queues.claim({**LIMITS, "primary": 1}) == ("primary", [1])
    assert await queues.push("refresh", [1]) == 0  # in flight
    assert await queues.depths() == {
        "primary": 1, "edges": 1, "secondary": 1, "refresh": 0, "in_flight": 1,
    }  # fmt: skip
    await queues.ack("primary", [1])
    assert await queues.push("refresh", [1]) == 1  # done: may be queued again


async def test_expired_lease_returns_to_front_of_queue(redis: Redis) -> None:
    crashed = WorkQueues(redis, lease_s=0.2)
    await crashed.push("edges", [10, 11])
    assert await crashed.claim(LIMITS) == ("edges", [10, 11])  # then the pump "crashes"
    await crashed.push("edges", [12])
    assert await crashed.requeue_expired() == 0
    await asyncio.sleep(0.3)
    assert await crashed.requeue_expired() == 2
    assert await crashed.claim({**LIMITS, "edges": 2}) == ("edges", [10, 11])


async def test_release_puts_a_failed_batch_back(redis: Redis) -> None:
    queues = WorkQueues(redis, lease_s=60)
    await queues.push("primary", [5, 6])
    kind, fbids = await queues.claim(LIMITS)
    await queues.release(kind, fbids)
    assert (await queues.depths())["in_flight"] == 0
    assert await queues.claim(LIMITS) == ("primary", [5, 6])
