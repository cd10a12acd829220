"""Warehouse writes: idempotent batch upserts of users and edges, missing_edges bookkeeping.

Each batch is one transaction: rows go to a temporary staging table, the keys are deleted
from the live table and the staged rows inserted. Edges are replaced per target fbid (a
re-fetched target loses the edges DynamoDB no longer has). Planning reads run here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.dynamo_pump.plan import PLAN_SQL, edge_retry_minutes, plan_args
from services.dynamo_pump.schema import EDGES, USERS
from shared.db import quote_ident

__all__ = ["upsert_users", "replace_edges", "plan_candidates"]

Row = tuple[Any, ...]


async def _stage_and_swap(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: list[Row], delete_sql: str
) -> None:
    staging = f"dynamo_staging_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {quote_ident(staging)} "
        f"(LIKE {quote_ident(table)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(staging, records=rows, columns=list(columns))
    await conn.execute(delete_sql.format(live=quote_ident(table), staging=quote_ident(staging)))
    names = ", ".join(map(quote_ident, columns))
    await conn.execute(
        f"INSERT INTO {quote_ident(table)} ({names}) SELECT {names} FROM {quote_ident(staging)}"  # noqa: S608 identifiers from our schema
    )


async def upsert_users(pool: asyncpg.Pool, rows: list[Row]) -> int:
    """Insert or replace users rows by fbid (last row of a fbid wins); the count written."""
    by_fbid = {row[0]: row for row in rows}
    if not by_fbid:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        await _stage_and_swap(
            conn,
            USERS.name,
            USERS.column_names,
            list(by_fbid.values()),
            "DELETE FROM {live} l USING {staging} s WHERE l.fbid = s.fbid",
        )
    return len(by_fbid)


async def replace_edges(
    pool: asyncpg.Pool, targets: list[int], rows: list[Row], empty_targets: list[int]
) -> int:
    """Replace the edges of ``targets`` by ``rows``; count a miss in missing_edges for each
    of ``empty_targets`` and clear it for the others. One transaction; the rows written."""
    by_key = {(row[0], row[1]): row for row in rows}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM edges WHERE fbid_target = ANY($1::bigint[])", targets)
        if by_key:
            await _stage_and_swap(
                conn,
                EDGES.name,
                EDGES.column_names,
                list(by_key.values()),
                "DELETE FROM {live} l USING {staging} s"
                " WHERE l.fbid_target = s.fbid_target AND l.fbid_source = s.fbid_source",
            )
        found = sorted(set(targets) - set(empty_targets))
        await conn.execute("DELETE FROM missing_edges WHERE fbid = ANY($1::bigint[])", found)
        if empty_targets:
            await _count_missing(conn, empty_targets)
    return len(by_key)


async def _count_missing(conn: asyncpg.Connection, fbids: list[int]) -> None:
    retries = await conn.fetch(
        "INSERT INTO missing_edges (fbid, retries) SELECT unnest($1::bigint[]), 1"
        " ON CONFLICT (fbid) DO UPDATE SET retries = missing_edges.retries + 1"
        " RETURNING fbid, retries",
        fbids,
    )
    await conn.executemany(
        "UPDATE missing_edges SET next_try = now() + make_interval(mins => $2) WHERE fbid = $1",
        [(r["fbid"], edge_retry_minutes(r["retries"])) for r in retries],
    )


async def plan_candidates(
    pool: asyncpg.Pool, kind: str, limit: int, recheck_s: float, refresh_s: float
) -> list[int]:
    """The fbids the ``kind`` queue needs now (see ``services.dynamo_pump.plan``)."""
    args = plan_args(kind, limit, recheck_s, refresh_s)
    return [r[0] for r in await pool.fetch(PLAN_SQL[kind], *args)]
