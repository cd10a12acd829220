"""Benchmark crash recovery: SIGKILL a service's worker in the middle of its work and time
how long until a surviving worker has done that work.

Each service runs as real ``forklift worker <service>`` processes on a fresh stack (real
Postgres, Redis, moto). Per service:

- baseline ``job_s``: the same unit of work on one worker, uninterrupted;
- ``recovery_s``: from the SIGKILL until the surviving worker is running the dead worker's
  unit again (dead-worker detection: heartbeats, the Reaper, leases);
- ``done_s``: from the SIGKILL until that unit is done.

Units: sync, a full ``sync_table events``; aggregator, an ``aggregate_range`` of one day;
dynamo_pump, the primary users the killed pump had claimed. Goal: recovery under 90 s
(moonshot under 15 s); arq alone would hold a dead worker's job for its timeout + 10 s.

    python bench/recovery.py --quick      # small data, well under a minute per service
    python bench/recovery.py              # 1,000,000 events

Last line: ``RESULT recovery <service>_recovery_s=... <service>_done_s=... max_recovery_s=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from moto.server import ThreadedMotoServer
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.dynamo_pump.settings import DynamoSettings  # noqa: E402
from services.dynamo_pump.tables import create_tables, put_items, user_item  # noqa: E402
from services.dynamo_pump.workqueue import INFLIGHT, WorkQueues  # noqa: E402
from services.migrations import migrate_source, migrate_warehouse  # noqa: E402
from services.sync.s3 import ensure_bucket  # noqa: E402
from shared.aws import AwsConfig, aws_client  # noqa: E402
from shared.heartbeat import HEARTBEAT_PREFIX, RUNNING_PREFIX  # noqa: E402
from shared.queues import connect_queue, enqueue, queue_name  # noqa: E402
from tests import stack  # noqa: E402

EVENTS_SQL = """
INSERT INTO events (event_id, visit_id, campaign_id, client_content, content, friend_fbid,
    type, activity_id, event_datetime, created, updated)
SELECT g, g / 7, 1 + g % 40, 1, 'content ' || md5(g::text), 100000000000 + g % 5000,
    (ARRAY['incoming_redirect','button_click','authorized','shown','shared','clickback'])[1 + g % 6],
    NULL, ts, ts, ts
FROM generate_series(1, $1::bigint) AS g,
    LATERAL (SELECT $2::timestamptz + g * (interval '1 day' / $1::bigint) AS ts) t
"""
# The fbid facts join events to visits and visitors: give them rows to join.
VISITS_SQL = """
INSERT INTO visits (visit_id, visitor_id, session_id, app_id, ip, created, updated)
SELECT v, v % 20000, md5(v::text), 1, '10.0.' || (v % 250) || '.' || (v % 200), now(), now()
FROM generate_series(0, $1::bigint / 7) AS v
"""
VISITORS_SQL = """
INSERT INTO visitors (visitor_id, uuid, fbid, created, updated)
SELECT v, md5(v::text), 100000 + v, now(), now() FROM generate_series(0, 20000) AS v
"""
POLL_S = 0.05


class Stack:
    """The servers and settings every worker process of the bench shares."""

    def __init__(self, env: dict[str, str], redis: Redis, log_dir: Path) -> None:
        self.env = env
        self.redis = redis
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start_worker(self, service: str) -> subprocess.Popen:
        log = (self.log_dir / f"{service}-{len(self.processes)}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "services", "worker", service],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()

    async def running_on(self, service: str, pid: int) -> set[str]:
        """Job ids that worker ``pid`` of ``service`` lists as running."""
        jobs: set[str] = set()
        async for key in self.redis.scan_iter(match=f"{RUNNING_PREFIX}{service}:*:{pid}:*"):
            jobs |= {j.decode() for j in await self.redis.hkeys(key)}
        return jobs

    async def alive(self, service: str, pid: int) -> bool:
        async for _ in self.redis.scan_iter(match=f"{HEARTBEAT_PREFIX}{service}:*:{pid}:*"):
            return True
        return False

    async def idle(self, service: str) -> bool:
        """Nothing queued or running for ``service`` (start-up crons are done)."""
        if await self.redis.zcard(queue_name(service)):
            return False
        async for key in self.redis.scan_iter(match=f"{RUNNING_PREFIX}{service}:*"):
            if await self.redis.hlen(key):
                return False
        return True


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> float:
    """Seconds until ``check()`` is true; RuntimeError naming ``what`` after ``timeout_s``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started


async def job_recovery(
    bench: Stack, service: str, enqueue_job: Callable[[str], Awaitable[None]]
) -> dict[str, float]:
    """Baseline on one worker, then: the job on worker A, B up, A killed, time until B runs
    and finishes it."""
    queue = queue_name(service)

    async def done(job_id: str) -> bool:
        return await bench.redis.zscore(queue, job_id) is None

    first = bench.start_worker(service)
    await until(lambda: bench.alive(service, first.pid), 60, f"{service} worker start")
    await asyncio.sleep(2)  # its start-up crons are queued at its first polls
    await until(lambda: bench.idle(service), 120, f"{service} start-up jobs")
    await enqueue_job("baseline")
    job_s = await until(lambda: done("baseline"), 600, "the baseline job")

    await enqueue_job("victim")
    await until(
        lambda: _has(bench.running_on(service, first.pid), "victim"), 60, "the job to start"
    )
    second = bench.start_worker(service)
    await until(lambda: bench.alive(service, second.pid), 60, "the second worker")
    if not await _has(bench.running_on(service, first.pid), "victim"):
        raise RuntimeError(f"the {service} job ended before the kill: use more --events")
    first.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await until(
        lambda: _has(bench.running_on(service, second.pid), "victim"), 300, "the job to restart"
    )
    recovery_s = time.monotonic() - killed
    await until(lambda: done("victim"), 600, "the restarted job")
    done_s = time.monotonic() - killed
    bench.stop_all()
    return {"job_s": job_s, "recovery_s": recovery_s, "done_s": done_s}


async def _has(jobs: Awaitable[set[str]], job_id: str) -> bool:
    return job_id in await jobs


async def sync_case(bench: Stack, arq: Redis, aws: AwsConfig) -> dict[str, float]:
    async with aws_client(aws, "s3") as s3:
        await ensure_bucket(s3, bench.env["FORKLIFT_SYNC_BUCKET"])

    async def enqueue_job(job_id: str) -> None:
        await enqueue(arq, "sync", "sync_table", "events", "full", job_id=job_id)

    return await job_recovery(bench, "sync", enqueue_job)


async def aggregator_case(bench: Stack, arq: Redis, day: datetime) -> dict[str, float]:
    async def enqueue_job(job_id: str) -> None:
        start, end = day.isoformat(), (day + timedelta(days=1)).isoformat()
        await enqueue(arq, "aggregator", "aggregate_range", "fbid", start, end, job_id=job_id)

    return await job_recovery(bench, "aggregator", enqueue_job)


async def dynamo_case(bench: Stack, aws: AwsConfig, users: int) -> dict[str, float]:
    """The pump has no jobs: it claims batches under a lease. Kill the pump while it holds
    primaries; time until the other pump has committed them."""
    settings = DynamoSettings(_env_file=None)
    async with aws_client(aws, "dynamodb") as client:
        await create_tables(client, settings)
        await put_items(
            client, settings.table("users"), (user_item(f) for f in range(1, users + 1))
        )
    queues = WorkQueues(bench.redis, settings.in_flight_timeout_s)

    async def holding() -> bool:
        return any(m.startswith(b"forklift:dynamo:queue:primary|") for m in await inflight())

    async def inflight() -> list[bytes]:
        return await bench.redis.zrange(INFLIGHT, 0, -1)

    first = bench.start_worker("dynamo_pump")
    await until(lambda: bench.alive("dynamo_pump", first.pid), 60, "pump start")
    await queues.push("primary", range(1, users // 2 + 1))
    started = time.monotonic()
    await until(lambda: _empty(queues), 600, "the baseline users")
    job_s = time.monotonic() - started

    await queues.push("primary", range(users // 2 + 1, users + 1))
    await until(holding, 60, "the pump to claim primaries")
    second = bench.start_worker("dynamo_pump")
    await until(lambda: bench.alive("dynamo_pump", second.pid), 60, "the second pump")
    held = dict(await bench.redis.zrange(INFLIGHT, 0, -1, withscores=True))
    first.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await until(lambda: _lease_gone(bench.redis, held), 300, "the dead pump's lease")
    recovery_s = time.monotonic() - killed
    await until(lambda: _empty(queues), 600, "the held users")
    done_s = time.monotonic() - killed
    bench.stop_all()
    return {"job_s": job_s, "recovery_s": recovery_s, "done_s": done_s}


async def _empty(queues: WorkQueues) -> bool:
    """No primary user queued or in flight (the pumps' own plans may add other kinds)."""
    if (await queues.depths())["primary"]:
        return False
    members = await queues.redis.zrange(INFLIGHT, 0, -1)
    return not any(m.startswith(b"forklift:dynamo:queue:primary|") for m in members)


async def _lease_gone(redis: Redis, held: dict[bytes, float]) -> bool:
    """None of the dead pump's keys is in flight under its lease any more (each is back in
    its queue, claimed again under a new lease, or done)."""
    scores = await redis.zmscore(INFLIGHT, list(held))
    return all(score != held[m] for m, score in zip(held, scores, strict=True))


async def run(events: int, users: int, logs: Path | None) -> str:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    aws = AwsConfig(
        region="us-east-1",
        endpoint_url=f"http://{host}:{port}",
        access_key_id="bench",
        secret_access_key="bench",
        timeout_s=10,
        max_attempts=2,
    )
    redis = Redis.from_url(claim.url)
    await redis.flushdb()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="forklift-recovery-") as tmp:
        try:
            source_dsn = await stack.create_database(f"{prefix}source")
            warehouse_dsn = await stack.create_database(f"{prefix}warehouse")
            await migrate_source(source_dsn)
            await migrate_warehouse(warehouse_dsn)
            day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            day -= timedelta(days=2)
            for dsn in (source_dsn, warehouse_dsn):
                conn = await asyncpg.connect(dsn)
                await conn.execute(EVENTS_SQL, events, day)
                if dsn == warehouse_dsn:
                    await conn.execute(VISITS_SQL, events)
                    await conn.execute(VISITORS_SQL)
                await conn.execute("ANALYZE")
                await conn.close()
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT_")},
                "FORKLIFT_SOURCE_DSN": source_dsn,
                "FORKLIFT_WAREHOUSE_DSN": warehouse_dsn,
                "FORKLIFT_REDIS_URL": claim.url,
                "FORKLIFT_AWS_ENDPOINT_URL": aws.endpoint_url or "",
                "FORKLIFT_AWS_ACCESS_KEY_ID": "bench",
                "FORKLIFT_AWS_SECRET_ACCESS_KEY": "bench",
                "FORKLIFT_DATA_DIR": tmp,
                "FORKLIFT_LOG_FORMAT": "json",
                "FORKLIFT_SYNC_TABLES": '["events"]',
                "FORKLIFT_SYNC_BUCKET": "forklift-recovery-bench",
                "FORKLIFT_DYNAMO_RCU_PER_SECOND": "20",  # a claimed batch takes a while
                "FORKLIFT_DYNAMO_USE_CONSUMED_CAPACITY": "false",
            }
            bench = Stack(env, redis, logs or Path(tmp))
            arq = await connect_queue(claim.url)
            try:
                results["sync"] = await sync_case(bench, arq, aws)
                print("sync", _line(results["sync"]), flush=True)
                results["aggregator"] = await aggregator_case(bench, arq, day)
                print("aggregator", _line(results["aggregator"]), flush=True)
                results["dynamo_pump"] = await dynamo_case(bench, aws, users)
                print("dynamo_pump", _line(results["dynamo_pump"]), flush=True)
            finally:
                bench.stop_all()
                await arq.aclose()
        finally:
            await redis.flushdb()
            await redis.aclose()
            moto.stop()
            claim.release()
            await stack.drop_databases(prefix)
    figures = " ".join(
        f"{service}_{name}={value:.2f}"
        for service, result in results.items()
        for name, value in result.items()
    )
    worst = max(r["recovery_s"] for r in results.values())
    return f"RESULT recovery {figures} max_recovery_s={worst:.2f} goal_s=90 moonshot_s=15"


def _line(result: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in result.items())


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data (under a minute each)")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--logs", type=Path, help="keep the workers' logs in this folder")
    args = parser.parse_args()
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    events = args.events or (150_000 if args.quick else 1_000_000)
    users = args.users or (400 if args.quick else 2_000)
    print(asyncio.run(run(events, users, args.logs)))


if __name__ == "__main__":
    main()
