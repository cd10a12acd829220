"""The poller on real Redis against the simulator: cadence under hung and rejecting gateways,
state per user, dedupe, pickup of user changes."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from services.rainforest.logfiles import LogWriter
from services.rainforest.poller import Poller, Recorder
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import DEVICES_KEY, device_credentials
from services.rainforest.users import UserStore


@pytest_asyncio.fixture
async def parts(
    redis: Redis, settings: RainforestSettings
) -> AsyncIterator[tuple[UserStore, LogWriter, aiohttp.ClientSession]]:
    store = UserStore(redis, settings.fernet())
    recorder = Recorder(store, LogWriter(settings.log_dir, settings.max_open_files), 0.2)
    recorder.start()
    async with aiohttp.ClientSession() as session:
        yield store, recorder, session
    await recorder.close()


async def register(store: UserStore, index: int, simulator: TestServer) -> None:
    cloud_id, user, secret = device_credentials(index)
    body = {"user_email": user, "user_pw": secret, "adapter": "cloud"}
    if index % 2:
        body.update(adapter="eagle200", host=f"127.0.0.1:{simulator.port}")
    await store.upsert(cloud_id, body)


def logged_lines(root: Path) -> list[dict]:
    return [
        json.loads(line) for path in root.rglob("*.jl") for line in path.read_text().splitlines()
    ]


async def test_200_users_keep_cadence_while_gateways_hang_or_reject(
    simulator: TestServer, settings: RainforestSettings, parts
) -> None:
    store, recorder, session = parts
    devices = simulator.app[DEVICES_KEY]
    for index in range(200):
        await register(store, index, simulator)
    for index in range(5):
        devices[f"{index:06d}"].hung = True
        devices[f"{index + 5:06d}"].bad_auth = True
    settings.concurrency = 50  # hung requests hold slots until their timeout: others still run
    poller = Poller(settings, store, recorder, session)
    poller.start()
    await asyncio.sleep(30)
    await poller.stop()
    await recorder.flush()

    healthy = [f"{i:06d}" for i in range(10, 200)]
    for cloud_id in healthy:
        starts = list(poller.polls[cloud_id])
        assert len(starts) >= 4, cloud_id
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert all(5.5 <= gap <= 6.5 for gap in gaps), (cloud_id, gaps)
        user = await store.public(cloud_id)
        assert user["status"] == "ok" and user["total_events_logged"] == len(starts)
    for index in range(5):
        hung = await store.public(f"{index:06d}")
        assert hung["status"] == "backoff" and hung["total_events_logged"] == 0
        rejected = await store.public(f"{index + 5:06d}")
        assert rejected["status"] == "auth_failed"
        assert len(poller.polls[f"{index + 5:06d}"]) == 1  # paused after the rejection
    lines = logged_lines(settings.log_dir)
    keys = [(r["cloud_id"], r["meter_mac"], r["eagle_time"]) for r in lines]
    assert len(keys) == len(set(keys)) == sum(len(poller.polls[c]) for c in healthy)


async def test_duplicate_reading_is_not_logged_again(
    simulator: TestServer, settings: RainforestSettings, parts
) -> None:
    store, recorder, _ = parts
    await register(store, 20, simulator)
    reading = {
        "cloud_id": "000020", "meter_mac": "0x01", "device_mac": "0x02",
        "eagle_time": "2026-11-23T08:00:00+00:00", "received_at": "2026-11-23T08:00:01+00:00",
        "demand_kw": 1.5, "summation_delivered_kwh": None, "summation_received_kwh": None,
        "source": "cloud",
    }  # fmt: skip
    assert await recorder.record(reading) is True
    assert await recorder.record({**reading, "received_at": "2026-11-23T08:00:07+00:00"}) is False
    await recorder.flush()
    # a fresh recorder (another process, a restart) knows the last reading from Redis
    assert await Recorder(store, recorder.writer, 1.0).record(reading) is False
    assert await recorder.record({**reading, "eagle_time": "2026-11-23T08:00:06+00:00"}) is True
    await recorder.flush()
    assert len(logged_lines(settings.log_dir)) == 2
    assert (await store.public("000020"))["total_events_logged"] == 2


async def test_poller_picks_up_new_updated_and_deleted_users(
    simulator: TestServer, settings: RainforestSettings, parts
) -> None:
    store, recorder, session = parts
    settings.poll_period_s = 1.0
    devices = simulator.app[DEVICES_KEY]
    devices["000031"].bad_auth = True
    await register(store, 30, simulator)
    await register(store, 31, simulator)
    poller = Poller(settings, store, recorder, session)
    poller.start()
    await asyncio.sleep(2.5)
    assert (await store.public("000031"))["status"] == "auth_failed"
    devices["000031"].bad_auth = False
    await register(store, 31, simulator)  # the user is updated: polling resumes
    await register(store, 32, simulator)
    await store.delete("000030")
    await asyncio.sleep(2.5)
    polled_30 = len(poller.polls["000030"])
    await asyncio.sleep(1.5)
    await poller.stop()
    assert (await store.public("000031"))["status"] == "ok"
    assert (await store.public("000032"))["total_events_logged"] >= 1
    assert len(poller.polls["000030"]) == polled_30  # deleted: no more polls
