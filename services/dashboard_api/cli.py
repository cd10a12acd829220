"""``forklift dashboard``: the dashboard_api service's commands."""

from __future__ import annotations

import json

import click
from redis.asyncio import Redis

from services.dashboard_api.passwords import DEFAULT_ITERATIONS, make_django_hash
from services.dashboard_api.routes import openapi_document
from services.dashboard_api.sessions import revoke_user
from shared.cli import core_settings, run_async


@click.group(name="dashboard", help="JSON REST API over the warehouse for the frontend and ops.")
def group() -> None:
    pass


@group.command(
    help="Print the API's OpenAPI 3 document (JSON).\n\n"
    "Example: forklift dashboard openapi > openapi.json"
)
def openapi() -> None:
    click.echo(json.dumps(openapi_document(), indent=2))


@group.command(
    name="hash-password",
    help="Print a Django pbkdf2_sha256 hash of a password read from a prompt (for auth_user).\n\n"
    "Example: forklift dashboard hash-password --iterations 600000",
)
@click.password_option(confirmation_prompt=False)
@click.option(
    "--iterations", type=click.IntRange(1, 5_000_000), default=DEFAULT_ITERATIONS, show_default=True
)
def hash_password(password: str, iterations: int) -> None:
    click.echo(make_django_hash(password, iterations=iterations))


@group.group(help="Dashboard sessions (kept in Redis).")
def sessions() -> None:
    pass


async def _revoke(username: str) -> int:
    core = core_settings()
    core.require("redis_url")
    redis = Redis.from_url(core.redis_url or "", socket_timeout=core.network_timeout_s)
    try:
        return await revoke_user(redis, username)
    finally:
        await redis.aclose()


@sessions.command(
    help="End every session of USERNAME now (its tokens and cookies stop working).\n\n"
    "Example: forklift dashboard sessions revoke acme"
)
@click.argument("username")
def revoke(username: str) -> None:
    count = run_async(_revoke(username))
    click.echo(f"revoked {count} session(s) of {username}")
