"""``forklift rainforest``: the rainforest service's commands."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiohttp
import click
import uvloop
from redis.asyncio import Redis

from services.rainforest.errors import RainforestError
from services.rainforest.membership import read_leases, read_members
from services.rainforest.openapi import openapi_document
from services.rainforest.ownership import shard_of
from services.rainforest.poller import running_poller
from services.rainforest.rotation import rotate, rotation_lock
from services.rainforest.settings import RainforestSettings
from services.rainforest.users import UserStore
from shared.aws import AwsConfig, aws_client
from shared.cli import core_settings, run_async
from shared.heartbeat import Heartbeat
from shared.logging import get_logger
from shared.settings import load_settings

log = get_logger("forklift.rainforest.cli")


@click.group(
    name="rainforest",
    help="Six-second EAGLE energy poller, JSONL logs, hourly rotation to S3, user API.\n\n"
    "Example: forklift rainforest users",
)
def group() -> None:
    pass


def _redis() -> Redis:
    core = core_settings()
    core.require("redis_url")
    return Redis.from_url(core.redis_url or "", socket_timeout=core.network_timeout_s)


async def _users() -> list[dict]:
    settings = load_settings(RainforestSettings)
    redis = _redis()
    try:
        store = UserStore(redis, settings.fernet())
        return await store.summaries()
    finally:
        await redis.aclose()


@group.command(
    help="List users: cloud_id, adapter, status, last reading, events logged.\n\n"
    "Example: forklift rainforest users"
)
def users() -> None:
    rows = run_async(_users())
    click.echo(
        f"{'cloud_id':<10} {'adapter':<9} {'active':<6} {'status':<12} {'last_reading':<26} {'demand_kw':>10} {'events':>8}"
    )
    for user in rows:
        last = user["last_reading"] or {}
        demand = f"{last['demand_kw']:.3f}" if last else "-"
        click.echo(
            f"{user['cloud_id']:<10} {user['adapter']:<9} {'yes' if user['active'] else 'no':<6} "
            f"{user['status'] or '-':<12} {last.get('eagle_time', '-'):<26} {demand:>10} "
            f"{user['total_events_logged']:>8}"
        )
    click.echo(f"{len(rows)} users")


async def _poll() -> None:
    core = core_settings()
    settings = load_settings(RainforestSettings)
    store = UserStore(_redis(), settings.fernet())
    heartbeat = Heartbeat(store.redis, "rainforest")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    connector = aiohttp.TCPConnector(limit=settings.concurrency, ttl_dns_cache=300)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            await heartbeat.start()
            try:
                async with running_poller(core, settings, store, session, heartbeat) as poller:
                    log.info("rainforest.poll.started", poller_id=poller.member)
                    stopped = asyncio.create_task(stop.wait())
                    failed = asyncio.create_task(poller.wait())
                    await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
                    stopped.cancel()
                    if failed.done():
                        failed.result()  # a configuration error: raised as one line
                    failed.cancel()
                    log.info("rainforest.poll.stopping", poller_id=poller.member)
            finally:
                await heartbeat.stop()
    finally:
        await store.redis.aclose()


@group.command(
    help="Run one poller (no API): it joins the other pollers through Redis and polls its "
    "share of the users until SIGTERM, then hands them over.\n\n"
    "Example: forklift rainforest poll"
)
def poll() -> None:
    # uvloop: an event loop iteration costs a fraction of asyncio's, and polls spread over
    # the period make about ten iterations each
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_poll())


async def _status() -> dict[str, Any]:
    settings = load_settings(RainforestSettings)
    redis = _redis()
    try:
        store = UserStore(redis, settings.fernet())
        members = await read_members(redis)
        leases = await read_leases(redis, settings.shards)
        users = await store.cloud_ids()
        raws = await store.raw_many(users)
    finally:
        await redis.aclose()
    polled = [
        cloud_id
        for cloud_id, raw in zip(users, raws, strict=True)
        if raw.get("active") == "1" and raw.get("status") not in ("auth_failed", "error")
    ]
    holder_users = Counter(leases.get(shard_of(c, settings.shards)) for c in polled)
    now = time.time()
    pollers = []
    for member in members:
        last_beat = float(member.get("last_beat", 0))
        pollers.append(
            {
                "id": member["id"],
                "host": member.get("host"),
                "pid": int(member.get("pid", 0)),
                "shards": sum(1 for holder in leases.values() if holder == member["id"]),
                "users": holder_users.get(member["id"], 0),
                "polls_last_min": int(member.get("polls_last_min", 0)),
                "lateness_p50_ms": float(member.get("lateness_p50_ms", 0)),
                "lateness_p99_ms": float(member.get("lateness_p99_ms", 0)),
                "lateness_max_ms": float(member.get("lateness_max_ms", 0)),
                "late_polls_last_min": int(member.get("late_polls_last_min", 0)),
                "beat_age_s": round(max(0.0, now - last_beat), 1),
            }
        )
    return {
        "pollers": pollers,
        "users": len(users),
        "users_to_poll": len(polled),
        "users_unowned": holder_users.get(None, 0),
        "shards": settings.shards,
        "shards_unowned": settings.shards - len(leases),
    }


@group.command(
    help="Show every live poller: its shards, users, polls and poll lateness over the last "
    "minute, and the users no poller holds.\n\n"
    "Example: forklift rainforest status\n\nExample: forklift rainforest status --json"
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    state = run_async(_status())
    if as_json:
        click.echo(json.dumps(state, indent=2))
        return
    click.echo(
        f"{'poller':<34} {'shards':>6} {'users':>6} {'polls/min':>9} {'p50_ms':>8} "
        f"{'p99_ms':>8} {'max_ms':>8} {'late>1s':>7} {'beat_age':>8}"
    )
    for p in state["pollers"]:
        click.echo(
            f"{p['id']:<34} {p['shards']:>6} {p['users']:>6} {p['polls_last_min']:>9} "
            f"{p['lateness_p50_ms']:>8.1f} {p['lateness_p99_ms']:>8.1f} "
            f"{p['lateness_max_ms']:>8.1f} {p['late_polls_last_min']:>7} {p['beat_age_s']:>7.1f}s"
        )
    click.echo(
        f"{len(state['pollers'])} pollers; {state['users_to_poll']} of {state['users']} users "
        f"to poll, {state['users_unowned']} in no poller's shards "
        f"({state['shards_unowned']} of {state['shards']} shards unheld)"
    )


async def _rotate() -> Any:
    core = core_settings()
    settings = load_settings(RainforestSettings)
    redis = _redis()
    try:
        async with (
            rotation_lock(redis),
            aws_client(AwsConfig.from_settings(core), "s3") as s3,
        ):
            return await rotate(
                s3,
                settings.s3_bucket,
                settings.logs_path(core),
                datetime.now(UTC),
                settings.rotate_grace_s,
            )
    finally:
        await redis.aclose()


@group.command(
    name="rotate",
    help="Upload every closed hour's log to S3 now (verified, then deleted locally). Waits "
    "for no one: refused while another rotation runs.\n\n"
    "Example: forklift rainforest rotate",
)
def rotate_cmd() -> None:
    result = run_async(_rotate())
    for key in result.uploaded:
        click.echo(f"uploaded {key}")
    torn = f", {result.torn_lines} torn lines skipped" if result.torn_lines else ""
    click.echo(f"{len(result.uploaded)} uploaded, {len(result.failed)} failed{torn}")
    if result.error is not None:
        raise RainforestError(f"{result.error}; {result.kept} files kept for the next run")
    if result.failed:
        raise RainforestError(
            f"{len(result.failed)} uploads failed; their files are kept for the next run"
        )


@group.command(
    help="Print the API's OpenAPI 3.1 document (JSON).\n\n"
    "Example: forklift rainforest openapi > rainforest-openapi.json"
)
def openapi() -> None:
    click.echo(json.dumps(openapi_document(), indent=2))
