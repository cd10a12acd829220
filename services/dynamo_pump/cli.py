"""``forklift dynamo``: plan the queues, show status, fetch one key now."""

from __future__ import annotations

import json
from typing import Any

import click
from redis.asyncio import Redis

from services.dynamo_pump.clients import open_pump
from services.dynamo_pump.errors import BadKey
from services.dynamo_pump.limiter import measured_rcu_per_s
from services.dynamo_pump.pump import STATE_KEY, Pump, plan
from services.dynamo_pump.settings import DynamoSettings
from services.dynamo_pump.workqueue import KINDS, WorkQueues
from shared.cli import core_settings, run_async
from shared.heartbeat import read_service_status
from shared.settings import load_settings

__all__ = ["group"]


@click.group(
    name="dynamo",
    help="Rate-limited DynamoDB extractor of users and edges into the warehouse.\n\n"
    "Examples:\n\n"
    "  forklift dynamo plan\n\n"
    "  forklift dynamo status\n\n"
    "  forklift dynamo fetch-user 1234567",
)
def group() -> None:
    pass


async def _with_pump(action: Any) -> Any:
    core = core_settings()
    settings = load_settings(DynamoSettings)
    core.require("redis_url")
    redis = Redis.from_url(core.redis_url or "", socket_timeout=core.network_timeout_s)
    try:
        async with open_pump(core, settings, redis) as pump:
            return await action(pump)
    finally:
        await redis.aclose()


@group.command(
    name="plan",
    help="(Re)build the work queues from the warehouse; prints the keys added per queue.\n\n"
    "Example: forklift dynamo plan",
)
def plan_command() -> None:
    async def action(pump: Pump) -> None:
        added = await plan(pump.settings, pump.warehouse, pump.queues)
        depths = await pump.queues.depths()
        for kind in KINDS:
            click.echo(f"{kind:<10} added={added[kind]} queued={depths[kind]}")

    run_async(_with_pump(action))


async def _status(redis: Redis, settings: DynamoSettings) -> list[str]:
    depths = await WorkQueues(redis, settings.in_flight_timeout_s).depths()
    rcu_per_s = await measured_rcu_per_s(redis)
    state = {k.decode(): v.decode() for k, v in (await redis.hgetall(STATE_KEY)).items()}
    [service] = await read_service_status(redis, ["dynamo_pump"])
    lines = [f"queue {kind:<10} {depths[kind]}" for kind in KINDS]
    lines.append(f"in_flight        {depths['in_flight']}")
    lines.append(f"rcu_per_s        {rcu_per_s:.1f} of {settings.rcu_per_second:g} (last 10 s)")
    lines.append(f"pump_alive       {service.alive}")
    for name in ("rows", "throttles", "errors"):
        lines.append(f"{name:<16} {service.counters.get(name, 0)}")
    lines.append(f"last_error       {state.get('error') or '-'}")
    return lines


@group.command(
    name="status",
    help="Queue depths, measured RCU/s against the budget, throttles and the last error.\n\n"
    "Example: forklift dynamo status",
)
def status_command() -> None:
    async def run() -> list[str]:
        core = core_settings()
        core.require("redis_url")
        redis = Redis.from_url(core.redis_url or "", socket_timeout=core.network_timeout_s)
        try:
            return await _status(redis, load_settings(DynamoSettings))
        finally:
            await redis.aclose()

    for line in run_async(run()):
        click.echo(line)


def _fbid(value: str) -> int:
    if not value.isdigit() or int(value) <= 0 or int(value) >= 2**63:
        raise BadKey(f"fbid must be a positive integer, got {value!r}")
    return int(value)


def _fetch(kind: str, value: str) -> None:
    fbid = _fbid(value)

    async def action(pump: Pump) -> list[tuple]:
        return (await pump.process(kind, [fbid]))["rows"]

    rows = run_async(_with_pump(action))
    if not rows:
        click.echo(f"no {kind} for {fbid}")
    for row in rows:
        click.echo(json.dumps([v if isinstance(v, int | str | None) else str(v) for v in row]))


@group.command(
    name="fetch-user",
    help="Read one user from DynamoDB now and upsert it; prints the row written.\n\n"
    "Example: forklift dynamo fetch-user 1234567",
)
@click.argument("fbid")
def fetch_user_command(fbid: str) -> None:
    _fetch("primary", fbid)


@group.command(
    name="fetch-edges",
    help="Query every edge of one target fbid now and store them; prints the rows written.\n\n"
    "Example: forklift dynamo fetch-edges 1234567",
)
@click.argument("fbid")
def fetch_edges_command(fbid: str) -> None:
    _fetch("edges", fbid)
