"""The poller on real Redis against the simulator: cadence under hung and rejecting gateways,
state per user, dedupe, pickup of user changes, and several pollers in one process sharing
the users (each user polled and written by one poller at a time, joins and leaves)."""

import asyncio
import gc
import json
import time
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from services.rainforest import poller as poller_module
from services.rainforest.logfiles import LogWriter
from services.rainforest.membership import Lease, Membership
from services.rainforest.ownership import shard_of
from services.rainforest.poller import Poller, lateness_summary, percentile, running_poller
from services.rainforest.recorder import Recorder
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import DEVICES_KEY, device_credentials
from services.rainforest.users import UserStore
from shared.settings import CoreSettings

CORE = CoreSettings(_env_file=None)


@pytest_asyncio.fixture
async def store(rf_redis: Redis, settings: RainforestSettings) -> UserStore:
    return UserStore(rf_redis, settings.fernet())


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


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


def fast(settings: RainforestSettings, **changes: float) -> RainforestSettings:
    """A 1 s period and quick membership (lease 1.5 s), for tests of hand-overs."""
    values = {"poll_period_s": 1.0, "heartbeat_interval_s": 0.5, "heartbeat_timeout_s": 2.5}
    return settings.model_copy(update={**values, **changes})


async def test_200_users_keep_cadence_while_gateways_hang_or_reject(
    simulator: TestServer, settings: RainforestSettings, store: UserStore, session
) -> None:
    devices = simulator.app[DEVICES_KEY]
    for index in range(200):
        await register(store, index, simulator)
    for index in range(5):
        devices[f"{index:06d}"].hung = True
        devices[f"{index + 5:06d}"].bad_auth = True
    settings.concurrency = 50  # hung requests hold slots until their timeout: others still run
    async with running_poller(CORE, settings, store, session) as poller:
        await asyncio.sleep(30)
    healthy = [f"{i:06d}" for i in range(10, 200)]
    for cloud_id in healthy:
        starts = list(poller.polls[cloud_id])
        assert len(starts) >= 4, cloud_id
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert all(5.5 <= gap <= 7.0 for gap in gaps), (cloud_id, gaps)  # 6 s cadence
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
    simulator: TestServer, settings: RainforestSettings, store: UserStore
) -> None:
    await register(store, 20, simulator)
    shard = shard_of("000020", settings.shards)
    token = await Membership(store.redis, "p", settings.shards, 30).beat({}, acquire=[shard])
    leases = {shard: Lease(token.acquired[shard], time.monotonic() + 30)}
    recorder = Recorder(store, LogWriter(settings.log_dir), 1.0, leases)
    reading = {
        "cloud_id": "000020", "meter_mac": "0x01", "device_mac": "0x02",
        "eagle_time": "2026-11-23T08:00:00+00:00", "received_at": "2026-11-23T08:00:01+00:00",
        "demand_kw": 1.5, "summation_delivered_kwh": None, "summation_received_kwh": None,
        "source": "cloud",
    }  # fmt: skip
    recorder.record(shard, reading, 1.0)
    recorder.record(shard, {**reading, "received_at": "2026-11-23T08:00:07+00:00"}, 7.0)
    assert await recorder.flush(written=True) == 1
    # a fresh recorder (another poller, a restart) knows the last reading from Redis
    fresh = Recorder(store, recorder.writer, 1.0, leases)
    fresh.record(shard, reading, 13.0)
    fresh.record(shard, {**reading, "eagle_time": "2026-11-23T08:00:06+00:00"}, 13.0)
    assert await fresh.flush(written=True) == 1
    assert len(logged_lines(settings.log_dir)) == 2
    assert (await store.public("000020"))["total_events_logged"] == 2
    assert recorder.duplicates == fresh.duplicates == 1


async def test_poller_picks_up_new_updated_and_deleted_users(
    simulator: TestServer, settings: RainforestSettings, store: UserStore, session
) -> None:
    settings.poll_period_s = 1.0
    devices = simulator.app[DEVICES_KEY]
    devices["000031"].bad_auth = True
    await register(store, 30, simulator)
    await register(store, 31, simulator)
    async with running_poller(CORE, settings, store, session) as poller:
        await asyncio.sleep(4)
        assert (await store.public("000031"))["status"] == "auth_failed"
        devices["000031"].bad_auth = False
        await register(store, 31, simulator)  # the user is updated: polling resumes
        await register(store, 32, simulator)
        await store.delete("000030")
        await asyncio.sleep(2.5)
        polled_30 = len(poller.polls["000030"])
        await asyncio.sleep(1.5)
    assert (await store.public("000031"))["status"] == "ok"
    assert (await store.public("000032"))["total_events_logged"] >= 1
    assert len(poller.polls["000030"]) == polled_30  # deleted: no more polls


class TracingWriter(LogWriter):
    """A LogWriter that notes (file, poller, time) for every line it is given to write."""

    def __init__(self, root: Path, member: str, trace: list) -> None:
        super().__init__(root)
        self.member = member
        self.trace = trace

    def submit(self, lines) -> None:
        lines = list(lines)
        now = time.monotonic()
        self.trace.extend((relative, self.member, now) for relative, _ in lines)
        super().submit(lines)


def pollers_of(pollers: list[Poller], since: float) -> dict[str, set[str]]:
    """cloud_id -> the pollers that polled it since loop time ``since``."""
    seen = defaultdict(set)
    for poller in pollers:
        for cloud_id, starts in poller.polls.items():
            if starts and starts[-1] >= since:
                seen[cloud_id].add(poller.member)
    return seen


async def test_three_pollers_share_users_join_and_leave_without_double_polls(
    simulator: TestServer, settings: RainforestSettings, store: UserStore, session
) -> None:
    settings = fast(settings)
    users = [f"{i:06d}" for i in range(60)]
    for index in range(60):
        cloud_id, user, secret = device_credentials(index)
        await store.upsert(cloud_id, {"user_email": user, "user_pw": secret})
    loop = asyncio.get_running_loop()
    trace: list = []
    started = time.time()

    async def join(stack: AsyncExitStack, member: str) -> Poller:
        writer = TracingWriter(settings.log_dir, member, trace)
        return await stack.enter_async_context(
            running_poller(CORE, settings, store, session, writer=writer, member=member)
        )

    async with AsyncExitStack() as keep_a, AsyncExitStack() as keep_b:
        a, b = await join(keep_a, "poller-a"), await join(keep_b, "poller-b")
        await asyncio.sleep(3)
        two = pollers_of([a, b], loop.time() - 1.2)
        assert set(two) == set(users) and all(len(p) == 1 for p in two.values()), two
        settled = time.monotonic()
        async with AsyncExitStack() as keep_c:
            c = await join(keep_c, "poller-c")
            await asyncio.sleep(4)
            three = pollers_of([a, b, c], loop.time() - 1.2)
            assert set(three) == set(users) and all(len(p) == 1 for p in three.values())
            moved = {u for u in users if three[u] != two[u]}
            assert moved and all(three[u] == {"poller-c"} for u in moved)  # only to the joiner
            assert 10 <= len(moved) <= 30
            await keep_b.aclose()  # b leaves gracefully: only its users move
            await asyncio.sleep(4)
            after = pollers_of([a, c], loop.time() - 1.2)
            assert set(after) == set(users) and all(len(p) == 1 for p in after.values())
            assert {u for u in users if after[u] != three[u]} == {
                u for u in users if three[u] == {"poller-b"}
            }
    # the gateways' view: never two polls of one user closer than half a period, never a gap
    # longer than period + heartbeat timeout (hand-overs included)
    bound = settings.poll_period_s + settings.heartbeat_timeout_s
    for cloud_id in users:
        times = [t for t in simulator.app[DEVICES_KEY][cloud_id].request_times if t > started + 2]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) > settings.poll_period_s / 2, (cloud_id, gaps)
        assert max(gaps) < bound, (cloud_id, gaps)
    # every file had one writer at a time: from the two-poller state on (each user then moves
    # at most once: to the joiner, or away from the leaver) each poller wrote a file in one
    # unbroken run
    runs = defaultdict(list)
    for relative, member, at in sorted(trace, key=lambda t: t[2]):
        if at < settled:
            continue
        if not runs[relative] or runs[relative][-1] != member:
            runs[relative].append(member)
    assert all(len(r) == len(set(r)) for r in runs.values()), runs
    assert any(len(r) == 2 for r in runs.values())  # some files did change hands
    lines = logged_lines(settings.log_dir)
    keys = [(r["cloud_id"], r["eagle_time"]) for r in lines]
    assert len(keys) == len(set(keys))  # no reading written twice


def test_lateness_summary_counts_exactly_and_samples_percentiles_of_many_polls() -> None:
    assert lateness_summary([]) == {
        "polls_last_min": 0, "lateness_p50_ms": 0, "lateness_p99_ms": 0,
        "lateness_max_ms": 0, "late_polls_last_min": 0,
    }  # fmt: skip
    few = [0.004, 0.002, 1.5, 0.003]
    assert lateness_summary(few) == {
        "polls_last_min": 4, "lateness_p50_ms": 4.0, "lateness_p99_ms": 1500.0,
        "lateness_max_ms": 1500.0, "late_polls_last_min": 1,
    }  # fmt: skip
    # 100,000 polls in an order unlike their sorted one; every 1,000th is over 1 s
    many = [
        ((i * 7919) % 100_000) / 100_000 + (2.0 if i % 1000 == 0 else 0.0) for i in range(100_000)
    ]
    exact = sorted(many)
    summary = lateness_summary(many)
    assert summary["polls_last_min"] == 100_000 and summary["late_polls_last_min"] == 100
    assert summary["lateness_max_ms"] == round(exact[-1] * 1000, 1)
    for key, q in (("lateness_p50_ms", 0.5), ("lateness_p99_ms", 0.99)):
        assert abs(summary[key] - percentile(exact, q) * 1000) < 20  # within 2% of the range


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settle_memory_freezes_collects_what_died_at_most_every_ten_minutes_and_raises_the_young_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def dead_cycle() -> weakref.ref[_Cycle]:
        return weakref.ref(_Cycle())  # garbage only the cycle collector frees

    gc.disable()  # no automatic collection between a cycle's death and the checks
    thresholds = gc.get_threshold()
    try:
        monkeypatch.setattr(poller_module, "_last_full_collection", float("-inf"))
        first = dead_cycle()
        poller_module._settle_memory()
        assert first() is None  # a full collection first
        assert gc.get_freeze_count() > 0  # then what lives is frozen
        assert gc.get_threshold() == (poller_module.YOUNG_COLLECTION_AFTER, *thresholds[1:])
        frozen = gc.get_freeze_count()
        second = dead_cycle()
        poller_module._settle_memory()  # within ten minutes: only frozen
        assert second() is not None and gc.get_freeze_count() > frozen
        monkeypatch.setattr(
            poller_module, "_last_full_collection",
            time.monotonic() - poller_module.FULL_COLLECTION_EVERY_S - 1,
        )  # fmt: skip
        poller_module._settle_memory()
        assert second() is None  # the frozen garbage is freed by the next full collection
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.enable()
