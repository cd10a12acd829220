"""Real poller processes (``forklift rainforest poll``) sharing users through Redis: one is
killed with SIGKILL and its users are polled by the other within the heartbeat timeout; a
restarted one takes its share back; the gateways never see a double poll; ``forklift
rainforest status`` and the ops status show each poller, its users and lateness."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from services.rainforest.membership import read_leases, read_members
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import DEVICES_KEY, device_credentials
from services.rainforest.users import UserStore
from shared.heartbeat import read_service_status
from tests import stack
from tests.rainforest.pollers import start_poller, stop_pollers, wait_for_holders

ROOT = Path(__file__).resolve().parents[2]
USERS = 100
PERIOD_S, BEAT_S, TIMEOUT_S = 2.0, 0.5, 2.5


def poller_env(redis_url: str, settings: RainforestSettings, tmp_path: Path) -> dict[str, str]:
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    return {
        **os.environ,
        "FORKLIFT_REDIS_URL": redis_url,
        "FORKLIFT_DATA_DIR": str(tmp_path / "data"),
        "FORKLIFT_LOG_FORMAT": "json",
        "FORKLIFT_RAINFOREST_ENCRYPTION_KEY": key,
        "FORKLIFT_RAINFOREST_RELAY_URL": settings.relay_url,
        "FORKLIFT_RAINFOREST_LOG_DIR": str(settings.log_dir),
        "FORKLIFT_RAINFOREST_POLL_PERIOD_S": str(PERIOD_S),
        "FORKLIFT_RAINFOREST_HEARTBEAT_INTERVAL_S": str(BEAT_S),
        "FORKLIFT_RAINFOREST_HEARTBEAT_TIMEOUT_S": str(TIMEOUT_S),
        "FORKLIFT_RAINFOREST_FLUSH_INTERVAL_S": "0.2",
        "FORKLIFT_RAINFOREST_REQUEST_TIMEOUT_S": "1",
    }


def member_of(members: list[dict], process: subprocess.Popen) -> str:
    [member] = [m["id"] for m in members if int(m["pid"]) == process.pid]
    return member


async def test_killed_pollers_users_are_taken_over_within_the_timeout(
    simulator: TestServer,
    settings: RainforestSettings,
    rf_redis: Redis,
    redis_claim: stack.RedisClaim,
    tmp_path: Path,
) -> None:
    store = UserStore(rf_redis, settings.fernet())
    for index in range(USERS):
        cloud_id, user, secret = device_credentials(index)
        await store.upsert(cloud_id, {"user_email": user, "user_pw": secret})
    env = poller_env(redis_claim.url, settings, tmp_path)
    logs = [tmp_path / f"poller-{i}.log" for i in range(3)]
    first, second = start_poller(env, logs[0]), start_poller(env, logs[1])
    restarted = None
    try:
        steady = await wait_for_holders(rf_redis, settings.shards, 2)
        await asyncio.sleep(2 * PERIOD_S)
        members = await read_members(rf_redis)
        victim = member_of(members, first)
        owned_by_victim = {
            s for s, m in (await read_leases(rf_redis, settings.shards)).items() if m == victim
        }

        status = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services", "rainforest", "status", "--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        state = json.loads(status.stdout)
        assert {p["id"] for p in state["pollers"]} == {victim, member_of(members, second)}
        assert sum(p["users"] for p in state["pollers"]) == USERS == state["users_to_poll"]
        assert state["users_unowned"] == 0 and all(p["users"] > 20 for p in state["pollers"])
        assert all(
            p["polls_last_min"] > 0 and p["lateness_p99_ms"] < 1000 for p in state["pollers"]
        )

        killed = time.time()
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        taken = await wait_for_holders(rf_redis, settings.shards, 1)
        assert taken - killed < TIMEOUT_S  # the lease expired and the survivor took it
        await asyncio.sleep(2 * PERIOD_S)

        restarted = start_poller(env, logs[2])
        await wait_for_holders(rf_redis, settings.shards, 2)
        await asyncio.sleep(2 * PERIOD_S + 3)
        ops = {
            p["info"].get("poller_id")
            for p in (await read_service_status(rf_redis, ["rainforest"]))[0].processes
        }
        assert {member_of(await read_members(rf_redis), p) for p in (second, restarted)} <= ops
    finally:
        ended = time.time()
        codes = await stop_pollers([first, second, restarted], 30)
    assert codes[1:] == [0, 0], [log.read_text()[-2000:] for log in logs]  # first: SIGKILLed
    assert await read_leases(rf_redis, settings.shards) == {}  # left gracefully
    assert await read_members(rf_redis) == []

    # the gateways' side, from the first steady state to the end
    bound = PERIOD_S + TIMEOUT_S
    worst = 0.0
    for index in range(USERS):
        cloud_id = device_credentials(index)[0]
        times = [
            t for t in simulator.app[DEVICES_KEY][cloud_id].request_times if steady <= t <= ended
        ]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) > PERIOD_S / 2, (cloud_id, gaps)  # never polled twice at once
        assert times[-1] > ended - bound and max(gaps) < bound, (cloud_id, gaps)
        worst = max(worst, max(gaps))
    assert worst > PERIOD_S + 1  # the kill did open a gap (the test saw a hand-over)
    assert owned_by_victim

    lines = [
        json.loads(line)
        for path in settings.log_dir.rglob("*.jl")
        for line in path.read_text().splitlines()
    ]
    keys = [(r["cloud_id"], r["eagle_time"]) for r in lines]
    assert len(keys) == len(set(keys))  # nothing written twice
    counted = sum(u["total_events_logged"] for u in await store.summaries())
    # a kill between counting a batch and writing it loses that batch's lines (< 1 flush)
    assert 0 <= counted - len(lines) <= 25
