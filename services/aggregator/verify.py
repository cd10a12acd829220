"""``forklift aggregate verify``: recompute a range of every fact table from the raw tables
into a temporary table and count the stored rows that differ from it.

The recomputation uses the definition's literal ``count(DISTINCT ...)`` form, not the
load's equivalent one, so it also checks the load SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.aggregator.runner import tune_transaction
from services.aggregator.sql import compare_sql, insert_sql, select_params
from shared.db import quote_ident
from shared.facts import FactTable

__all__ = ["Difference", "verify_table"]


@dataclass(frozen=True)
class Difference:
    """One fact table's stored rows in a range against a recomputation."""

    table: str
    rows: int  # rows of the recomputation
    missing: int  # recomputed rows not stored
    extra: int  # stored rows not recomputed
    changed: int  # same key, other facts

    @property
    def differing(self) -> int:
        return self.missing + self.extra + self.changed

    def line(self) -> str:
        return (
            f"{self.table} rows={self.rows} differing={self.differing}"
            f" (missing={self.missing} extra={self.extra} changed={self.changed})"
        )


async def verify_table(
    pool: asyncpg.Pool, table: FactTable, start: datetime, end: datetime, work_mem_mb: int = 64
) -> Difference:
    """``table``'s stored rows over the hours [start, end) against a recomputation."""
    fresh = f"verify_{table.slug}"
    async with pool.acquire() as conn, conn.transaction():
        await tune_transaction(conn, work_mem_mb)
        await conn.execute(
            f"CREATE TEMP TABLE {quote_ident(fresh)} (LIKE {quote_ident(table.name)}) ON COMMIT DROP"
        )
        await conn.execute(insert_sql(table, fresh, exact=True), *select_params(table, start, end))
        row = await conn.fetchrow(compare_sql(table, fresh), start, end)
    return Difference(table.name, row["rows"], row["missing"], row["extra"], row["changed"])
