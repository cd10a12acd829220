"""Membership, shard leases and fenced recording in Redis, on the Redis 7 test server and on
the embedded Redis 6.2 (the floor): every script must work on both."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from services.rainforest.errors import PollerConfigError, UserNotFound
from services.rainforest.membership import Membership, read_leases, read_members
from services.rainforest.users import UserStore
from shared.embedded import ChildProcess, free_port, start_redis
from tests import stack


@pytest.fixture(scope="module")
def redis62(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server: ChildProcess
    server, url = start_redis(Path(tmp_path_factory.mktemp("redis62")), free_port())
    yield url
    server.terminate()
    server.wait_stopped(10)


@pytest_asyncio.fixture(params=["redis7", "redis6.2"])
async def any_redis(
    request: pytest.FixtureRequest, redis_claim: stack.RedisClaim
) -> AsyncIterator[Redis]:
    url = redis_claim.url if request.param == "redis7" else request.getfixturevalue("redis62")
    client = Redis.from_url(url)
    await client.flushdb()
    if request.param == "redis6.2":
        assert (await client.info("server"))["redis_version"].startswith("6.2")
    yield client
    await client.aclose()


def reading(cloud_id: str, second: int) -> dict:
    return {
        "cloud_id": cloud_id, "meter_mac": "0x01", "device_mac": "0x02",
        "eagle_time": f"2030-01-01T00:00:{second:02d}+00:00",
        "received_at": f"2030-01-01T00:00:{second:02d}+00:00", "demand_kw": 1.0,
        "summation_delivered_kwh": None, "summation_received_kwh": None, "source": "cloud",
    }  # fmt: skip


async def test_leases_are_exclusive_renewed_released_and_expire(any_redis: Redis) -> None:
    a = Membership(any_redis, "poller-a", 8, ttl_s=0.6)
    b = Membership(any_redis, "poller-b", 8, ttl_s=0.6)
    first = await a.beat({}, acquire=[0, 1, 2], info={"users": 3})
    assert first.members == ["poller-a"] and set(first.acquired) == {0, 1, 2}
    taken = await b.beat({}, acquire=[2, 3])
    assert taken.members == ["poller-a", "poller-b"] and set(taken.acquired) == {3}

    kept = await a.beat(first.acquired, release={0: first.acquired[0]})
    assert kept.renewed == {0, 1, 2} and not kept.lost
    assert await read_leases(any_redis, 8) == {1: "poller-a", 2: "poller-a", 3: "poller-b"}
    assert [m["id"] for m in await read_members(any_redis)] == ["poller-a", "poller-b"]
    assert (await read_members(any_redis))[0]["users"] == "3"

    # a stops beating (a crash): its membership and leases expire together
    for _ in range(4):
        await asyncio.sleep(0.25)
        alive = await b.beat(taken.acquired)
    assert alive.members == ["poller-b"] and alive.renewed == {3}
    won = await b.beat(taken.acquired, acquire=[1, 2])
    assert set(won.acquired) == {1, 2}
    assert won.acquired[2].split("|")[1] == "2"  # a new fence: the second lease of shard 2
    late = await a.beat(first.acquired)  # a wakes up: its leases are gone
    assert late.lost == {0, 1, 2} and not late.renewed  # (0 it had released itself)

    await b.beat({}, release={**taken.acquired, **won.acquired}, leave=True)
    assert await read_leases(any_redis, 8) == {} and "poller-b" not in (
        m["id"] for m in await read_members(any_redis)
    )


async def test_a_poller_with_another_shard_count_is_refused(any_redis: Redis) -> None:
    await Membership(any_redis, "a", 1024, 5).beat({})
    with pytest.raises(PollerConfigError, match="SHARDS is 512 but the running pollers use 1024"):
        await Membership(any_redis, "b", 512, 5).beat({})


async def test_recording_is_fenced_and_deduplicated(any_redis: Redis) -> None:
    store = UserStore(any_redis, Fernet(Fernet.generate_key()))
    await store.upsert("000001", {"user_email": "a@b.org", "user_pw": "x"})
    await store.upsert("000002", {"user_email": "c@d.org", "user_pw": "y"})
    old = (await Membership(any_redis, "old", 8, 0.2).beat({}, acquire=[5])).acquired[5]
    await asyncio.sleep(0.3)
    new = (await Membership(any_redis, "new", 8, 5).beat({}, acquire=[5])).acquired[5]
    one, two = reading("000001", 1), reading("000002", 1)
    batch = [(5, one, json.dumps(one), 100.0), (5, two, json.dumps(two), 100.0)]
    assert await store.record_batch({5: old}, batch) == "FF"  # the expired holder is refused
    assert (await store.public("000001"))["total_events_logged"] == 0
    assert await store.record_batch({5: new}, batch) == "AA"
    again = reading("000001", 1) | {"received_at": "2030-01-01T00:00:07+00:00"}
    newer = reading("000001", 7)
    assert await store.record_batch(
        {5: new}, [(5, again, json.dumps(again), 106.0), (5, newer, json.dumps(newer), 112.0)]
    ) == "SA"  # fmt: skip
    user = await store.public("000001")
    assert user["total_events_logged"] == 2 and user["last_reading"] == newer
    assert (await store.raw("000001"))["polled_at"] == "112.0"
    await store.delete("000002")
    assert await store.record_batch({5: new}, [(5, two, json.dumps(two), 1.0)]) == "D"
    assert not await any_redis.exists("rainforest:user:000002")  # not resurrected


async def test_api_readings_wait_for_the_shard_holder(any_redis: Redis) -> None:
    store = UserStore(any_redis, Fernet(Fernet.generate_key()))
    await store.upsert("000003", {"user_email": "a@b.org", "user_pw": "x"})
    line = json.dumps(reading("000003", 4))
    assert await store.record_remote(reading("000003", 4), line, 7) is True
    assert await store.record_remote(reading("000003", 4), line, 7) is False  # same reading
    with pytest.raises(UserNotFound):
        await store.record_remote(reading("000009", 4), line, 7)
    assert (await store.public("000003"))["total_events_logged"] == 1
    assert await store.waiting_shards() == {7}
    token = (await Membership(any_redis, "p", 8, 5).beat({}, acquire=[7])).acquired[7]
    assert await store.drain(7, "p|999") == []  # not the holder: nothing taken
    assert await store.drain(7, token) == [line]
    assert await store.waiting_shards() == set() and await store.drain(7, token) == []


async def test_a_won_lease_says_whether_it_was_handed_over_and_members_carry_expiries(
    any_redis: Redis,
) -> None:
    a = Membership(any_redis, "a", 8, ttl_s=0.3)
    first = await a.beat({}, acquire=[0, 1, 2])
    assert first.handed_over == {0, 1, 2}  # never held: no poll of theirs can be unrecorded
    assert first.expiries == {"a": first.server_ms + 300}
    await a.beat(first.acquired, release={0: first.acquired[0]})
    await asyncio.sleep(0.4)  # a stops beating: shards 1 and 2 expire
    b = Membership(any_redis, "b", 8, ttl_s=5)
    won = await b.beat({}, acquire=[0, 1])
    assert set(won.acquired) == {0, 1} and won.handed_over == {0}
    assert won.members == ["b"] and won.expiries == {"b": won.server_ms + 5000}
    c = Membership(any_redis, "c", 8, ttl_s=5)
    await b.beat(won.acquired, release={1: won.acquired[1]})
    assert (await c.beat({}, acquire=[1, 2])).handed_over == {1}  # 2 is still a's expired one
