"""``forklift rainforest``: the rainforest service's commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from redis.asyncio import Redis

from services.rainforest.errors import RainforestError
from services.rainforest.openapi import openapi_document
from services.rainforest.rotation import ensure_bucket, rotate
from services.rainforest.settings import RainforestSettings
from services.rainforest.users import UserStore
from shared.aws import AwsConfig, aws_client
from shared.cli import core_settings, run_async
from shared.settings import load_settings


@click.group(
    name="rainforest",
    help="Six-second EAGLE energy poller, JSONL logs, hourly rotation to S3, user API.\n\n"
    "Example: forklift rainforest users",
)
def group() -> None:
    pass


async def _users() -> list[dict]:
    core = core_settings()
    core.require("redis_url")
    settings = load_settings(RainforestSettings)
    redis = Redis.from_url(core.redis_url or "", socket_timeout=core.network_timeout_s)
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


async def _rotate() -> tuple[list[str], list[str]]:
    core = core_settings()
    settings = load_settings(RainforestSettings)
    async with aws_client(AwsConfig.from_settings(core), "s3") as s3:
        await ensure_bucket(s3, settings.s3_bucket)
        result = await rotate(
            s3,
            settings.s3_bucket,
            settings.logs_path(core),
            datetime.now(UTC),
            settings.rotate_grace_s,
        )
    return result.uploaded, result.failed


@group.command(
    name="rotate",
    help="Upload every closed hour's log to S3 now (verified, then deleted locally).\n\n"
    "Example: forklift rainforest rotate",
)
def rotate_cmd() -> None:
    uploaded, failed = run_async(_rotate())
    for key in uploaded:
        click.echo(f"uploaded {key}")
    click.echo(f"{len(uploaded)} uploaded, {len(failed)} failed")
    if failed:
        raise RainforestError(
            f"{len(failed)} uploads failed; their files are kept for the next run"
        )


@group.command(
    help="Print the API's OpenAPI 3.1 document (JSON).\n\n"
    "Example: forklift rainforest openapi > rainforest-openapi.json"
)
def openapi() -> None:
    click.echo(json.dumps(openapi_document(), indent=2))
