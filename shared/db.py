"""asyncpg pools for the source and warehouse databases, and SQL identifier quoting."""

from __future__ import annotations

import asyncpg

from shared.errors import ForkliftError, describe

__all__ = ["DatabaseUnavailable", "create_pool", "quote_ident", "qualified"]


class DatabaseUnavailable(ForkliftError):
    """A database could not be reached or refused the connection."""


async def create_pool(
    dsn: str,
    *,
    name: str,
    max_size: int = 10,
    min_size: int = 1,
    command_timeout_s: float = 300.0,
    connect_timeout_s: float = 10.0,
    custom_plans: bool = False,
    reset_sessions: bool = True,
) -> asyncpg.Pool:
    """Open a pool to ``dsn``; ``name`` ("source", "warehouse") appears in the error if it fails.
    ``min_size`` connections are opened now, the others when first needed.

    ``custom_plans``: plan every statement with its actual parameters. asyncpg keeps named
    prepared statements, and after five runs Postgres may switch one to a generic plan that
    cannot see how narrow a time range is (10x slower for the dashboard's range queries).
    Postgres's ``plan_cache_mode=force_custom_plan`` keeps the statements prepared (one
    round trip per query, not a Parse round trip before each) and plans each run anew.

    ``reset_sessions=False``: for a pool whose users leave no session state behind (plain
    reads: no SET, LISTEN, advisory lock or cursor), skip the reset query asyncpg sends on
    every release (a second round trip per ``pool.fetch``); an open transaction is still
    rolled back.
    """
    settings = {"timezone": "UTC"}
    if custom_plans:
        settings["plan_cache_mode"] = "force_custom_plan"
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=min(min_size, max_size),
            max_size=max_size,
            command_timeout=command_timeout_s,
            timeout=connect_timeout_s,
            server_settings=settings,
            reset=None if reset_sessions else _keep_session,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise DatabaseUnavailable(f"{name} database unreachable: {describe(e)}") from e


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A release that sends nothing (asyncpg has already rolled back any transaction)."""


def quote_ident(name: str) -> str:
    """Quote one SQL identifier. Only for names from our own definitions or the catalog."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str | None, name: str) -> str:
    """``"schema"."name"`` or ``"name"``."""
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)
