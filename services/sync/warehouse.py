"""The warehouse side of a run: prepare a staging table, then, in one transaction, swap
(full) or merge (incremental), record the watermark, and leave in the aggregator's outbox
the (fact table, hour) pairs the change makes stale. A failure before that commit leaves
the live table as it was; a crash after it cannot lose the outbox rows."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.sync import dialects
from services.sync.catalog import read_table
from services.sync.errors import SchemaMismatch
from services.sync.settings import Mode
from shared.db import quote_ident
from shared.facts import HOUR, Reach
from shared.outbox import AGGREGATE_OUTBOX
from shared.schema import Column, Table

__all__ = ["Landing", "prepare", "publish", "discard"]

_INDEX_SIGNATURES_SQL = """
SELECT c.relname AS name,
       concat_ws(':', i.indkey::text, i.indisunique, i.indisprimary,
                 pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid))
         AS signature
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = to_regclass($1) ORDER BY c.relname
"""


@dataclass(frozen=True)
class Landing:
    """What to land: a run's parts, their table and columns, the mode and new watermark."""

    table: str
    mode: Mode
    run_id: str
    columns: tuple[tuple[str, str, bool], ...]  # (name, warehouse type, not null)
    primary_key: tuple[str, ...]
    watermark: datetime | None
    reaches: tuple[Reach, ...] = ()  # how this table's rows reach the facts

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c[0] for c in self.columns)

    @property
    def target(self) -> str:
        name = dialects.staging_name if self.mode == "full" else dialects.delta_name
        return name(self.table)


async def _ensure_outbox(conn: asyncpg.Connection, landing: Landing) -> None:
    if landing.reaches and await read_table(conn, AGGREGATE_OUTBOX.name) is None:
        raise SchemaMismatch(
            f"warehouse lacks {AGGREGATE_OUTBOX.name} (the facts read {landing.table});"
            " run `forklift db migrate`"
        )


async def _ensure_live(conn: asyncpg.Connection, landing: Landing, dialect: str, keys: Any) -> None:
    info = await read_table(conn, landing.table)
    if info is None:
        await conn.execute(_create_sql(landing.table, landing, dialect, keys))
        return
    missing = [c for c in landing.column_names if c not in info.column_names]
    if missing:
        raise SchemaMismatch(
            f"warehouse table {landing.table} lacks column(s) {', '.join(missing)};"
            " run `forklift db migrate` or add them"
        )


def _create_sql(name: str, landing: Landing, dialect: str, keys: Any) -> str:
    if dialect == "redshift":
        distkey, sortkeys = keys
        return dialects.redshift_create_sql(
            name, landing.columns, landing.primary_key, distkey, sortkeys
        )
    columns = tuple(Column(n, t, nullable=not nn) for n, t, nn in landing.columns)
    return Table(name, columns, primary_key=landing.primary_key).create_sql()


async def _stage(conn: asyncpg.Connection, landing: Landing, dialect: str, keys: Any) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {quote_ident(landing.target)}")
    if dialect == "redshift":
        await conn.execute(_create_sql(landing.target, landing, dialect, keys))
    elif landing.mode == "full":
        await conn.execute(dialects.postgres_staging_sql(landing.table))
    else:
        await conn.execute(dialects.postgres_delta_sql(landing.table))


async def _changed_hours(
    conn: asyncpg.Connection, landing: Landing, dialect: str
) -> dict[str, set[datetime]]:
    """Hours each fact table (slug) must recompute after this run, before the swap/merge."""
    types = {name: pg_type for name, pg_type, _ in landing.columns}
    stale: dict[str, set[datetime]] = {}
    for reach in landing.reaches:
        sql = dialects.changed_hours_sql(
            dialect,
            landing.mode,
            landing.table,
            landing.primary_key,
            [(c, types[c]) for c in reach.columns],
            reach.path,
            HOUR.source,
        )
        hours = {r["hour"] for r in await conn.fetch(sql) if r["hour"] is not None}
        for table in reach.fact_tables:
            stale.setdefault(table.slug, set()).update(hours)
    return stale


async def _write_outbox(
    conn: asyncpg.Connection, landing: Landing, stale: dict[str, set[datetime]]
) -> None:
    rows = [
        (slug, hour, f"sync:{landing.table}", landing.run_id)
        for slug, hours in stale.items()
        for hour in sorted(hours)
    ]
    if rows:
        await conn.executemany(dialects.outbox_insert_sql(AGGREGATE_OUTBOX.name), rows)


async def _swap(conn: asyncpg.Connection, landing: Landing, dialect: str) -> None:
    if dialect != "postgres":
        for sql in dialects.swap_sql(landing.table):
            await conn.execute(sql)
        return
    live = await conn.fetch(_INDEX_SIGNATURES_SQL, quote_ident(landing.table))
    staged = await conn.fetch(_INDEX_SIGNATURES_SQL, quote_ident(landing.target))
    for sql in dialects.swap_sql(landing.table):
        await conn.execute(sql)
    pairs = (
        [(r["name"], r["signature"]) for r in live],
        [(r["name"], r["signature"]) for r in staged],
    )
    for sql in dialects.postgres_index_renames(*pairs):
        await conn.execute(sql)


async def _record(conn: asyncpg.Connection, landing: Landing, rows: int) -> None:
    # DELETE + INSERT rather than ON CONFLICT: Redshift has no upsert.
    await conn.execute("DELETE FROM sync_state WHERE table_name = $1", landing.table)
    await conn.execute(
        "INSERT INTO sync_state (table_name, watermark, mode, run_id, rows, synced_at)"
        " VALUES ($1, $2, $3, $4, $5, now())",
        landing.table,
        landing.watermark,
        landing.mode,
        landing.run_id,
        rows,
    )


async def prepare(conn: asyncpg.Connection, landing: Landing, dialect: str, keys: Any) -> None:
    """Make sure the live table exists with every source column, and create an empty
    staging (full) or delta (incremental) table. ``keys``: Redshift (distkey, sortkeys)."""
    await _ensure_live(conn, landing, dialect, keys)
    await _ensure_outbox(conn, landing)
    await _stage(conn, landing, dialect, keys)


async def publish(conn: asyncpg.Connection, landing: Landing, dialect: str, rows: int) -> list[str]:
    """In one transaction: swap or merge the loaded rows into the live table, store the
    watermark and write the outbox rows of the fact hours the change makes stale. Returns
    those hours (sorted ISO strings, every fact table together)."""
    if landing.mode == "incremental":
        await conn.execute(dialects.analyze_delta_sql(landing.table))
    async with conn.transaction():
        if landing.mode == "incremental":
            for sql in dialects.merge_planner_sql(dialect):
                await conn.execute(sql)
        stale = await _changed_hours(conn, landing, dialect)
        await _write_outbox(conn, landing, stale)
        if landing.mode == "full":
            await _swap(conn, landing, dialect)
        else:
            for sql in dialects.merge_sql(landing.table, landing.column_names, landing.primary_key):
                await conn.execute(sql)
        await _record(conn, landing, rows)
    return [hour.isoformat() for hour in sorted(set().union(*stale.values()))]


async def discard(conn: asyncpg.Connection, landing: Landing) -> None:
    """Drop a failed run's staging/delta table (best effort: the next run replaces it)."""
    with contextlib.suppress(Exception):
        await conn.execute(f"DROP TABLE IF EXISTS {quote_ident(landing.target)}")
