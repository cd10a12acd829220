"""Redis work queues: strict priority, no duplicates, leases, crash recovery."""

import asyncio
import signal
import sys
from pathlib import Path

from redis.asyncio import Redis

from services.dynamo_pump.workqueue import KINDS, WorkQueues
from shared.settings import CoreSettings

ROOT = Path(__file__).resolve().parents[2]

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


async def test_primaries_of_a_killed_pump_come_back_before_any_edge_batch(
    redis: Redis, core: CoreSettings
) -> None:
    """A real process claims primaries and is SIGKILLed; the next claims, once its lease
    ran out, return those primaries before the waiting edges (no timer, no re-plan)."""
    queues = WorkQueues(redis, lease_s=1.0)
    await queues.push("primary", [1, 2, 3])
    await queues.push("edges", list(range(100, 160)))
    claimer = (
        "import asyncio, sys\n"
        "from redis.asyncio import Redis\n"
        "from services.dynamo_pump.workqueue import KINDS, WorkQueues\n"
        "async def main():\n"
        f"    queues = WorkQueues(Redis.from_url({core.redis_url!r}), lease_s=1.0)\n"
        "    print(await queues.claim({k: 100 for k in KINDS}), flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    pump = await asyncio.create_subprocess_exec(
        sys.executable, "-c", claimer, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert (await pump.stdout.readline()).decode().strip() == "('primary', [1, 2, 3])"
    pump.send_signal(signal.SIGKILL)
    await pump.wait()
    assert await queues.claim({**LIMITS, "edges": 10}) == ("edges", list(range(100, 110)))
    await asyncio.sleep(1.1)  # the dead pump's lease runs out
    assert await queues.claim({**LIMITS, "edges": 10}) == ("primary", [1, 2, 3])


async def test_a_renewed_lease_outlives_its_first_deadline(redis: Redis) -> None:
    queues = WorkQueues(redis, lease_s=0.5)
    await queues.push("primary", [7])
    assert await queues.claim(LIMITS) == ("primary", [7])
    for _ in range(3):
        await asyncio.sleep(0.3)
        await queues.renew("primary", [7])
    assert await queues.claim(LIMITS) is None  # still leased, after 0.9 s
    assert (await queues.depths())["in_flight"] == 1
