"""dynamo_pump benchmark: pump throughput against a bare aioboto3 loop, and budget adherence.

In one run, on moto and a fresh warehouse: (a) baseline: a bare aioboto3 loop of
BatchGetItem (100 keys) / Query (every page) with the pump's concurrency and no warehouse
writes; (b) the pump with an unlimited budget, writing everything to the warehouse; items/s
of both and b/a (goal >= 0.8); (c) budget adherence (measured/configured RCU/s, measured by a
proxy in front of moto) at three budget levels. Last line: ``RESULT dynamo key=value ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import structlog
from moto.server import ThreadedMotoServer
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.dynamo_pump.clients import open_pump  # noqa: E402
from services.dynamo_pump.limiter import BUCKET  # noqa: E402
from services.dynamo_pump.settings import DynamoSettings  # noqa: E402
from services.dynamo_pump.tables import create_tables, edge_item, put_items, user_item  # noqa: E402
from services.migrations import migrate_warehouse  # noqa: E402
from shared.aws import AwsConfig, aws_client  # noqa: E402
from shared.settings import CoreSettings  # noqa: E402
from tests import stack  # noqa: E402
from tests.dynamo_pump.proxy import fault_proxy  # noqa: E402

EDGES_PER_TARGET = 5
CONCURRENCY = 4


async def seed(aws: AwsConfig, settings: DynamoSettings, users: int, edges: int) -> list[int]:
    targets = list(range(1, edges // EDGES_PER_TARGET + 1))
    async with aws_client(aws, "dynamodb") as client:
        await create_tables(client, settings)
        await put_items(
            client, settings.table("users"), (user_item(f) for f in range(1, users + 1))
        )
        items = (
            edge_item(t, 10_000_000 + t * 10 + k) for t in targets for k in range(EDGES_PER_TARGET)
        )
        await put_items(client, settings.table("edges"), items)
    return targets


async def baseline(aws: AwsConfig, settings: DynamoSettings, users: int, targets: list[int]) -> int:
    """The bare loop: the same reads, ``CONCURRENCY`` at a time, results dropped."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    table_u, table_e = settings.table("users"), settings.table("edges")
    read = 0

    async with aws_client(aws, "dynamodb") as client:

        async def users_batch(start: int) -> None:
            nonlocal read
            keys = [{"fbid": {"N": str(f)}} for f in range(start, min(start + 100, users + 1))]
            async with semaphore:
                while keys:
                    r = await client.batch_get_item(RequestItems={table_u: {"Keys": keys}})
                    read += len(r["Responses"].get(table_u, []))
                    keys = r.get("UnprocessedKeys", {}).get(table_u, {}).get("Keys", [])

        async def query(target: int) -> None:
            nonlocal read
            params: dict[str, Any] = {
                "TableName": table_e,
                "KeyConditionExpression": "fbid_target = :t",
                "ExpressionAttributeValues": {":t": {"N": str(target)}},
            }
            async with semaphore:
                while True:
                    r = await client.query(**params)
                    read += len(r["Items"])
                    if "LastEvaluatedKey" not in r:
                        return
                    params["ExclusiveStartKey"] = r["LastEvaluatedKey"]

        await asyncio.gather(*(users_batch(s) for s in range(1, users + 1, 100)))
        await asyncio.gather(*(query(t) for t in targets))
    return read


async def pump_all(
    core: CoreSettings, settings: DynamoSettings, redis: Redis, users: int, targets: list[int]
) -> None:
    async with open_pump(core, settings, redis) as pump:
        await pump.queues.push("primary", range(1, users + 1))
        await pump.queues.push("edges", targets)
        task = asyncio.create_task(pump.run())
        while sum((await pump.queues.depths()).values()):  # noqa: ASYNC110 polls Redis
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def adherence(
    core: CoreSettings,
    settings: DynamoSettings,
    redis: Redis,
    moto_url: str,
    rcu_per_s: float,
    duration_s: float,
    users: int,
) -> float:
    await redis.delete(BUCKET)
    budgeted = settings.model_copy(update={"rcu_per_second": rcu_per_s})
    async with fault_proxy(moto_url) as proxy:
        proxied = core.model_copy(update={"aws_endpoint_url": proxy.url})
        async with open_pump(proxied, budgeted, redis) as pump:
            await pump.queues.push("refresh", range(1, users + 1))
            task = asyncio.create_task(pump.run())
            started = time.monotonic()
            await asyncio.sleep(duration_s + 1.0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await redis.delete(
                *[f"forklift:dynamo:queue:{k}" for k in ("refresh",)], "forklift:dynamo:inflight"
            )
    return proxy.rcu_between(started + 1.0, started + 1.0 + duration_s) / duration_s / rcu_per_s


async def run(users: int, edges: int, levels: list[float], duration_s: float) -> str:
    prefix = f"flbench_{stack.run_id()}_"
    claim = stack.RedisClaim.claim()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    try:
        warehouse_dsn = await stack.create_database(f"{prefix}warehouse")
        await migrate_warehouse(warehouse_dsn)
        core = CoreSettings(
            warehouse_dsn=warehouse_dsn, redis_url=claim.url, aws_endpoint_url=moto_url,
            aws_access_key_id="bench", aws_secret_access_key="bench", _env_file=None,
        )  # fmt: skip
        aws = AwsConfig.from_settings(core)
        settings = DynamoSettings(
            rcu_per_second=1e9, concurrency=CONCURRENCY, use_consumed_capacity=False,
            idle_sleep_s=0.05, _env_file=None,
        )  # fmt: skip
        redis = Redis.from_url(claim.url)
        await redis.flushdb()
        started = time.monotonic()
        targets = await seed(aws, settings, users, edges)
        print(f"seeded {users} users, {edges} edges in {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        read = await baseline(aws, settings, users, targets)
        base_s = time.monotonic() - started
        print(
            f"(a) bare aioboto3 loop: {read} items in {base_s:.2f}s = {read / base_s:.0f} items/s"
        )
        started = time.monotonic()
        await pump_all(core, settings, redis, users, targets)
        pump_s = time.monotonic() - started
        print(f"(b) pump, unlimited budget, with writes: {read / pump_s:.0f} items/s")
        ratios = {}
        for level in levels:
            ratios[level] = await adherence(
                core, settings, redis, moto_url, level, duration_s, users
            )
            print(f"(c) budget {level:g} RCU/s: measured/configured = {ratios[level]:.3f}")
        await redis.aclose()
    finally:
        moto.stop()
        claim.release()
        await stack.drop_databases(prefix)
    base_rate, pump_rate = read / base_s, read / pump_s
    budget = " ".join(f"budget_{level:g}={ratio:.3f}" for level, ratio in ratios.items())
    return (
        f"RESULT dynamo users={users} edges={edges} baseline_items_per_s={base_rate:.0f}"
        f" pump_items_per_s={pump_rate:.0f} pump_vs_baseline={pump_rate / base_rate:.2f} {budget}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000, help="users in moto (100,000)")
    parser.add_argument("--edges", type=int, default=500_000, help="edges in moto (500,000)")
    parser.add_argument("--levels", default="25,50,100", help="budget levels, RCU/s (25,50,100)")
    parser.add_argument("--duration-s", type=float, default=5.0, help="seconds per budget level")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="400 users, 1,000 edges, 2 s levels (moto Query is slow)",
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    users, edges, duration_s = (
        (400, 1_000, 2.0) if args.quick else (args.users, args.edges, args.duration_s)
    )
    levels = [float(v) for v in args.levels.split(",")]
    print(asyncio.run(run(users, edges, levels, duration_s)))


if __name__ == "__main__":
    main()
