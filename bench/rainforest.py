"""Benchmark: how many users one rainforest poller process keeps on a 6 s cadence, and how two
sharded poller processes hand users over when one is killed.

Single process: the EAGLE simulator runs in its own process on this machine (it takes most
of the other core: its CPU share is printed); users are registered in a claimed Redis db; the
poller (logging to a temp dir, Redis counters) runs for a few periods per size. Lateness =
how late each poll starts against its due time. A size is on cadence when p99 lateness < 1 s
and 100% of the due polls were done (run and succeeded). ``cpu_ratio`` is the poller's CPU
seconds per poll over a bare request's, measured in the same run for as long as the poll
window, once just before each size and once just after (the mean: this machine's speed drifts
by a quarter within minutes, and one short measurement made the ratio swing by as much): bare
requests through the poller's own relay client (kept-alive connections, the request bytes
built once per user, the reply read but not parsed or logged) sent as the poller sends its
polls: that size's users once per period, evenly spread, released together every tick of
the poller's ticker (``WAKEUP_TICK_S``), at most ``concurrency`` in flight. Pacing matters:
the same requests sent back to back (100 at a time) cost about half as much each, since the
loop then handles many replies per wake-up and per system call; that figure, the baseline
until issue 17, is still reported as ``cpu_ratio_back_to_back`` (``baseline_back_to_back_us``),
and a bare aiohttp request, back to back, as ``cpu_ratio_aiohttp``.

Both run on uvloop, as ``forklift rainforest poll`` does (``--loop asyncio`` for the standard
loop). Sharded: two ``forklift rainforest poll`` processes share the users; mid-run one is killed
with SIGKILL and, a little later, started again. From the simulator's own request log (the
gateways' side): ``double_polls`` (two polls of one user less than half a period apart),
``max_gap_s`` (the longest time a user went unpolled), ``users_over_bound`` (users that went
longer than period + heartbeat timeout); from the shard leases sampled every half second:
``moved_users`` (users whose poller changed), ``takeover_s`` (kill to every shard held again).

    python bench/rainforest.py --quick
    python bench/rainforest.py                       # 10,000 and 20,000 users, sharded 10,000
    python bench/rainforest.py --sizes 5000,10000 --periods 3 --sharded-users 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import uvloop
from cryptography.fernet import Fernet
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.rainforest.adapters import RELAY_COMMAND, relay_client  # noqa: E402
from services.rainforest.membership import read_leases, read_members  # noqa: E402
from services.rainforest.ownership import shard_of  # noqa: E402
from services.rainforest.poller import WAKEUP_TICK_S, percentile, running_poller  # noqa: E402
from services.rainforest.relay import RelayClient  # noqa: E402
from services.rainforest.settings import RainforestSettings  # noqa: E402
from services.rainforest.simulator import device_credentials  # noqa: E402
from services.rainforest.users import UserStore  # noqa: E402
from shared.settings import CoreSettings  # noqa: E402
from tests.rainforest.pollers import start_poller, stop_pollers, wait_for_holders  # noqa: E402
from tests.stack import RedisClaim  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_simulator(devices: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [sys.executable, "-m", "services.rainforest.simulator", "--port", str(port)]
    process = subprocess.Popen([*argv, "--devices", str(devices)], cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("simulator did not start")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_requests(relay: RelayClient, users: int) -> list[bytes]:
    """The relay requests of simulated devices 0..users-1, built once as the poller does."""
    return [
        relay.request(dict(zip(("Cloud-ID", "User", "Password"), device_credentials(i), strict=True)),
                      RELAY_COMMAND.encode())
        for i in range(users)
    ]  # fmt: skip


async def baseline(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """CPU seconds per bare relay request through the poller's own client sent back to back,
    ``concurrency`` at a time (kept-alive connections, the request built once per user as the
    poller does; no parsing, no logging), and requests per second (the simulator's capacity:
    above it no poller can keep up)."""
    semaphore = asyncio.Semaphore(concurrency)
    relay = relay_client(url, concurrency)
    built = bare_requests(relay, requests)

    async def one(index: int) -> None:
        async with semaphore:
            await relay.post(built[index], 5.0)

    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(requests)))
    cpu_s, wall_s = time.process_time() - cpu, time.monotonic() - wall
    relay.close()
    return cpu_s / requests, requests / wall_s


async def baseline_paced(url: str, users: int, periods: int, concurrency: int) -> float:
    """CPU seconds per bare relay request sent at the poller's pace for ``users`` users (see
    the module docstring), over ``periods`` poll periods after a first one that opens the
    connections."""
    settings = RainforestSettings(encryption_key=Fernet.generate_key().decode(), _env_file=None)
    period, rate = settings.poll_period_s, users / settings.poll_period_s
    seconds = period * periods
    semaphore = asyncio.Semaphore(concurrency)
    relay = relay_client(url, concurrency)
    built = bare_requests(relay, users)
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int) -> None:
        async with semaphore:
            await relay.post(built[index % users], 5.0)

    loop = asyncio.get_running_loop()
    start = loop.time()
    sent, cpu, measured_from = 0, 0.0, None
    while (now := loop.time()) < start + period + seconds:
        if measured_from is None and now >= start + period:
            cpu, measured_from = time.process_time(), sent
        for index in range(sent, int((now - start) * rate)):
            task = asyncio.create_task(one(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent = max(sent, int((now - start) * rate))
        await asyncio.sleep(WAKEUP_TICK_S)
    await asyncio.gather(*tasks)
    cpu_s = time.process_time() - cpu
    relay.close()
    return cpu_s / max(1, sent - (measured_from or 0))


async def baseline_aiohttp(url: str, requests: int, concurrency: int) -> float:
    """CPU seconds per bare relay request through aiohttp (the client the poller used
    before, and the baseline of the earlier figures)."""
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(index: int) -> None:
            cloud_id, user, secret = device_credentials(index)
            headers = {"Cloud-ID": cloud_id, "User": user, "Password": secret}
            async with (
                semaphore,
                session.post(
                    f"{url}/cgi-bin/post_manager", data=RELAY_COMMAND, headers=headers
                ) as r,
            ):
                await r.text()

        cpu = time.process_time()
        await asyncio.gather(*(one(i) for i in range(requests)))
        return (time.process_time() - cpu) / requests


async def register(store: UserStore, users: int) -> None:
    for index in range(users):
        cloud_id, user, secret = device_credentials(index)
        await store.upsert(cloud_id, {"user_email": user, "user_pw": secret, "adapter": "cloud"})


async def run_size(
    redis: Redis, url: str, users: int, periods: int, log_dir: Path, simulator_pid: int
) -> dict[str, float]:
    await redis.flushdb()
    settings = RainforestSettings(
        encryption_key=Fernet.generate_key().decode(), relay_url=url, log_dir=log_dir,
        concurrency=500, _env_file=None,
    )  # fmt: skip
    store = UserStore(redis, settings.fernet())
    await register(store, users)
    connector = aiohttp.TCPConnector(limit=settings.concurrency)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        running_poller(CoreSettings(_env_file=None), settings, store, session) as poller,
    ):
        # every user started (two beats to take the shards), then a period: first polls spread
        for _ in range(600):  # polled, not awaited: nothing signals "all started"  # noqa: ASYNC110
            if poller.users_polled >= users:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(settings.poll_period_s)
        poller.lateness.clear()
        failed = poller.failed_polls
        cpu, sim_cpu, wall = time.process_time(), cpu_seconds(simulator_pid), time.monotonic()
        await asyncio.sleep(settings.poll_period_s * periods)
        cpu_s, wall_s = time.process_time() - cpu, time.monotonic() - wall
        sim_share = (cpu_seconds(simulator_pid) - sim_cpu) / wall_s
        lateness = sorted(late for _, late in poller.lateness)
        failed = poller.failed_polls - failed
    return {
        "users": users,
        "polls": len(lateness),
        "failed": failed,
        # share of the polls due in the window that ran and succeeded
        "done": (len(lateness) - failed) / (users * periods),
        "p50_s": statistics.median(lateness) if lateness else float("nan"),
        "p99_s": percentile(lateness, 0.99),
        "cpu_per_poll_s": cpu_s / max(1, len(lateness)),
        "poller_core": cpu_s / wall_s,
        "simulator_core": sim_share,
    }


def kept_up(result: dict[str, float]) -> bool:
    """On cadence: p99 lateness < 1 s and every due poll ran and succeeded (99.9%: a poll due
    at the window's very end may fall just outside it)."""
    return result["p99_s"] < 1.0 and result["done"] >= 0.999


async def sample_holders(redis: Redis, shards: int, samples: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(await read_leases(redis, shards))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


async def run_sharded(
    redis: Redis, redis_url: str, url: str, users: int, quick: bool, tmp: Path
) -> dict[str, float]:
    """Two poller processes, one SIGKILLed mid-run and restarted; the gateways' view."""
    await redis.flushdb()
    key = Fernet.generate_key().decode()
    timing = {"period": 2.0, "beat": 0.5, "timeout": 3.5} if quick else {}
    settings = RainforestSettings(
        encryption_key=key,
        relay_url=url,
        poll_period_s=timing.get("period", 6.0),
        heartbeat_interval_s=timing.get("beat", 1.0),
        heartbeat_timeout_s=timing.get("timeout", 5.0),
        _env_file=None,
    )
    period, bound = settings.poll_period_s, settings.poll_period_s + settings.heartbeat_timeout_s
    await register(UserStore(redis, settings.fernet()), users)
    env = {
        **os.environ,
        "FORKLIFT_REDIS_URL": redis_url,
        "FORKLIFT_DATA_DIR": str(tmp / "data"),
        "FORKLIFT_LOG_FORMAT": "json",
        "FORKLIFT_RAINFOREST_ENCRYPTION_KEY": key,
        "FORKLIFT_RAINFOREST_RELAY_URL": url,
        "FORKLIFT_RAINFOREST_LOG_DIR": str(tmp / "logs"),
        "FORKLIFT_RAINFOREST_POLL_PERIOD_S": str(settings.poll_period_s),
        "FORKLIFT_RAINFOREST_HEARTBEAT_INTERVAL_S": str(settings.heartbeat_interval_s),
        "FORKLIFT_RAINFOREST_HEARTBEAT_TIMEOUT_S": str(settings.heartbeat_timeout_s),
    }
    logs = [tmp / f"poller-{i}.log" for i in range(3)]
    first, second = start_poller(env, logs[0]), start_poller(env, logs[1])
    restarted = None
    samples: list[dict[int, str]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_holders(redis, settings.shards, samples, stop))
    lateness_p99 = []
    try:
        await wait_for_holders(redis, settings.shards, 2, 60)
        await asyncio.sleep(period)  # every user started
        window = time.time()
        await asyncio.sleep(2 * period)
        first.send_signal(signal.SIGKILL)
        killed = time.time()
        first.wait(10)
        takeover_s = await wait_for_holders(redis, settings.shards, 1, 60) - killed
        await asyncio.sleep(2 * period)
        restarted, restarted_at = start_poller(env, logs[2]), time.time()
        await wait_for_holders(redis, settings.shards, 2, 60)
        await asyncio.sleep(3 * period)
        lateness_p99 = [float(m.get("lateness_p99_ms", "nan")) for m in await read_members(redis)]
        ended = time.time()
    finally:
        codes = (await stop_pollers([first, second, restarted], 60))[1:]  # first: SIGKILLed
        stop.set()
        await sampler
    if codes != [0, 0]:
        raise RuntimeError(f"pollers exited {codes}: see {logs}")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/simulator/requests") as response,
    ):
        requests = await response.json()
    max_gap, over_bound, doubles_at, late_at = 0.0, 0, [], []
    for index in range(users):
        times = [t for t in requests.get(device_credentials(index)[0], []) if window <= t <= ended]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        doubles_at += [
            round(a - killed, 1)
            for a, b in zip(times, times[1:], strict=False)
            if b - a < period / 2
        ]
        gaps.append(ended - (times[-1] if times else window))  # the stretch to the end
        max_gap = max(max_gap, *gaps)
        over_bound += max(gaps) > bound
        starts = [*times[:-1], times[-1] if times else window]  # where each gap begins
        late_at += [
            round(at - killed, 1) for at, gap in zip(starts, gaps, strict=True) if gap > bound
        ]
    double_polls = len(doubles_at)
    moves: defaultdict[str, int] = defaultdict(int)
    holders: dict[int, str] = {}  # the last holder seen of each shard (unheld moments skipped)
    for sample in samples:
        for shard, holder in sample.items():
            if holders.get(shard, holder) != holder:
                moves[str(shard)] += 1
            holders[shard] = holder
    by_shard = defaultdict(int)
    for index in range(users):
        by_shard[str(shard_of(device_credentials(index)[0], settings.shards))] += 1
    return {
        "users": users,
        "double_polls": double_polls,
        "max_gap_s": max_gap,
        "bound_s": bound,
        "users_over_bound": over_bound,
        "moved_users": sum(by_shard[s] for s in moves),
        "user_moves": sum(by_shard[s] * n for s, n in moves.items()),
        "takeover_s": takeover_s,
        "lateness_p99_ms": max(lateness_p99) if lateness_p99 else float("nan"),
        "double_polls_after_kill_s": sorted(doubles_at),
        "gaps_over_bound_after_kill_s": sorted(late_at),
        "restarted_after_kill_s": round(restarted_at - killed, 1),
    }


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    process, url = start_simulator(max([*sizes, args.sharded_users]))
    claim = RedisClaim.claim()
    redis = Redis.from_url(claim.url)
    results, sharded = {}, None
    try:
        burst_cpu, base_rps = await baseline(url, args.baseline_requests, 100)
        aiohttp_cpu = await baseline_aiohttp(url, args.baseline_requests, 100)
        print(
            f"baseline, back to back: {burst_cpu * 1e6:.0f} us CPU per bare request (the "
            f"poller's client), {base_rps:.0f} requests/s (= {base_rps * 6:.0f} users at 6 s if "
            f"the simulator were the only limit); {aiohttp_cpu * 1e6:.0f} us per bare aiohttp "
            "request"
        )
        for users in sizes:
            before = await baseline_paced(url, users, args.periods, 500)
            with tempfile.TemporaryDirectory() as tmp:
                result = await run_size(redis, url, users, args.periods, Path(tmp), process.pid)
            after = await baseline_paced(url, users, args.periods, 500)
            paced = (before + after) / 2
            results[users] = result | {
                "paced_s": paced,
                "paced_spread": abs(before - after) / paced,
            }
            print(
                f"users={users} polls={result['polls']} failed={result['failed']} "
                f"done={result['done']:.2%} p50={result['p50_s'] * 1000:.1f}ms "
                f"p99={result['p99_s'] * 1000:.1f}ms cpu/poll={result['cpu_per_poll_s'] * 1e6:.0f}us "
                f"({result['cpu_per_poll_s'] / paced:.2f}x a bare request at its pace, "
                f"{paced * 1e6:.0f} us, before and after {before * 1e6:.0f} / "
                f"{after * 1e6:.0f}; {result['cpu_per_poll_s'] / burst_cpu:.2f}x back to back, "
                f"{result['cpu_per_poll_s'] / aiohttp_cpu:.2f}x bare aiohttp) "
                f"poller={result['poller_core']:.0%} "
                f"of a core, simulator={result['simulator_core']:.0%}"
            )
        if args.sharded_users:
            with tempfile.TemporaryDirectory() as tmp:
                sharded = await run_sharded(
                    redis, claim.url, url, args.sharded_users, args.quick, Path(tmp)
                )
            print(
                f"sharded: 2 pollers, {sharded['users']} users, one SIGKILLed and restarted: "
                f"double_polls={sharded['double_polls']} max_gap={sharded['max_gap_s']:.1f}s "
                f"(bound {sharded['bound_s']:.1f}s) users_over_bound={sharded['users_over_bound']} "
                f"moved_users={sharded['moved_users']} ({sharded['user_moves']} moves) "
                f"takeover={sharded['takeover_s']:.1f}s poller_p99={sharded['lateness_p99_ms']:.0f}ms"
            )
            for name in ("double_polls_after_kill_s", "gaps_over_bound_after_kill_s"):
                if sharded[name]:  # where they happened: kill at 0, restart as printed
                    times = sharded[name]
                    print(f"  {name}: {times[:5]}...{times[-5:]} ({len(times)}; restarted at "
                          f"{sharded['restarted_after_kill_s']})")  # fmt: skip
        await redis.flushdb()
    finally:
        await redis.aclose()
        claim.release()
        process.terminate()
        process.wait(10)
    passing = [u for u, r in results.items() if kept_up(r)]
    best = max(passing) if passing else 0
    fields = [f"max_users={best}"]
    if results:
        top = results.get(best, results[sizes[0]])
        ratio = top["cpu_per_poll_s"] / top["paced_s"]
        print(f"max users on cadence: {best}; poller CPU per poll / bare request = {ratio:.2f}x")
        for users, r in results.items():
            fields += [
                f"p99_ms_at_{users}={r['p99_s'] * 1000:.1f}",
                f"done_at_{users}={r['done']:.4f}",
            ]
        fields += [
            f"cpu_ratio={ratio:.2f}",
            f"baseline_us={top['paced_s'] * 1e6:.0f}",
            f"baseline_spread={top['paced_spread']:.2f}",
            f"cpu_ratio_back_to_back={top['cpu_per_poll_s'] / burst_cpu:.2f}",
            f"baseline_back_to_back_us={burst_cpu * 1e6:.0f}",
            f"cpu_ratio_aiohttp={top['cpu_per_poll_s'] / aiohttp_cpu:.2f}",
            f"aiohttp_baseline_us={aiohttp_cpu * 1e6:.0f}",
            f"cpu_per_poll_us={top['cpu_per_poll_s'] * 1e6:.0f}",
            f"simulator_core={top['simulator_core']:.2f}",
        ]
    if sharded is not None:
        fields += [
            f"sharded_users={sharded['users']}",
            f"double_polls={sharded['double_polls']}",
            f"max_gap_s={sharded['max_gap_s']:.1f}",
            f"bound_s={sharded['bound_s']:.1f}",
            f"users_over_bound={sharded['users_over_bound']}",
            f"moved_users={sharded['moved_users']}",
            f"takeover_s={sharded['takeover_s']:.1f}",
        ]
    print("RESULT rainforest " + " ".join(fields))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,20000", help="user counts, ascending ('' none)")
    parser.add_argument("--periods", type=int, default=3, help="6 s periods measured per size")
    parser.add_argument("--sharded-users", type=int, default=10_000, help="0: skip the sharded run")
    parser.add_argument("--baseline-requests", type=int, default=3000)
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the single-process run and its baseline (pollers use uvloop)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small run: 2,000 users for 1 period, sharded 1,000 users at a 2 s period",
    )
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.sizes, parsed.periods, parsed.baseline_requests = "2000", 1, 1000
        parsed.sharded_users = 1000
    if parsed.loop == "uvloop":
        uvloop.run(main(parsed))
    else:
        asyncio.run(main(parsed))
