"""The import ledger in the warehouse: what was imported, what is resumable, what failed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.piwik.schema import LEDGER
from shared.db import quote_ident

__all__ = [
    "FileKey",
    "Progress",
    "load_file",
    "start_file",
    "resume_file",
    "Acks",
    "finish_file",
]


@dataclass(frozen=True)
class FileKey:
    """A ledger row's identity."""

    site: str
    day: date
    s3_key: str
    etag: str

    def args(self) -> tuple[Any, ...]:
        return (self.site, self.day, self.s3_key, self.etag)


@dataclass
class Progress:
    """A file's ledger state, as a run starts it."""

    status: str
    recorders: int
    batch_size: int
    acked_batches: list[int]
    tracked: int
    invalid: int


async def load_file(pool: asyncpg.Pool, site: str, s3_key: str, etag: str) -> dict[date, Progress]:
    """Every day's ledger row of one file."""
    rows = await pool.fetch(
        "SELECT day, status, recorders, batch_size, acked_batches, tracked, invalid"
        " FROM piwik_ledger WHERE site = $1 AND s3_key = $2 AND etag = $3",
        site,
        s3_key,
        etag,
    )
    return {r["day"]: Progress(**{k: v for k, v in dict(r).items() if k != "day"}) for r in rows}


async def start_file(
    pool: asyncpg.Pool,
    key: FileKey,
    run_id: str,
    recorders: int,
    batch_size: int,
    size_bytes: int,
) -> None:
    """Insert or reset the row to a fresh ``running`` state (a new or forced import)."""
    await pool.execute(
        "INSERT INTO piwik_ledger (site, day, s3_key, etag, status, run_id, recorders,"
        " batch_size, size_bytes, acked_batches)"
        " VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, array_fill(0, ARRAY[$6::int]))"
        " ON CONFLICT (site, day, s3_key, etag) DO UPDATE SET status = 'running',"
        " run_id = $5, recorders = $6, batch_size = $7, size_bytes = $8,"
        " acked_batches = array_fill(0, ARRAY[$6::int]), tracked = 0, invalid = 0,"
        " error = NULL, bad_samples = '{}', updated_at = now()",
        *key.args(),
        run_id,
        recorders,
        batch_size,
        size_bytes,
    )


async def resume_file(pool: asyncpg.Pool, key: FileKey, run_id: str) -> None:
    """Mark a partial file ``running`` again under this run."""
    await pool.execute(
        "UPDATE piwik_ledger SET status = 'running', run_id = $5, error = NULL,"
        " updated_at = now() WHERE site = $1 AND day = $2 AND s3_key = $3 AND etag = $4",
        *key.args(),
        run_id,
    )


class Acks:
    """The acknowledged batches of one file's day: the acknowledgements that come while an
    UPDATE runs are written together by the next (one commit for the recorders, not one
    each), and each recorder waits until its own is written before it sends its next
    batch, so the ledger never lags behind more than the batches in flight."""

    def __init__(self, pool: asyncpg.Pool, key: FileKey, acked_batches: list[int]) -> None:
        self._pool = pool
        self._key = key
        self._acked = list(acked_batches)
        self._tracked = self._invalid = 0  # not written yet
        self._waiting: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def ack(self, recorder: int, acked: int, tracked: int, invalid: int) -> None:
        """Record that recorder ``recorder`` had its first ``acked`` batches acknowledged,
        ``tracked`` and ``invalid`` hits more; returns once written."""
        self._acked[recorder] = acked
        self._tracked += tracked
        self._invalid += invalid
        written = asyncio.get_running_loop().create_future()
        self._waiting.append(written)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await written

    async def _write(self) -> None:
        waiting: list[asyncio.Future[None]] = []
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, []
                tracked, invalid = self._tracked, self._invalid
                self._tracked = self._invalid = 0
                await self._pool.execute(
                    "UPDATE piwik_ledger SET acked_batches = $5, tracked = tracked + $6,"
                    " invalid = invalid + $7, updated_at = now()"
                    " WHERE site = $1 AND day = $2 AND s3_key = $3 AND etag = $4",
                    *self._key.args(),
                    self._acked,
                    tracked,
                    invalid,
                )
                for written in waiting:
                    if not written.done():
                        written.set_result(None)
        except BaseException as e:  # every recorder waiting gets the error
            for written in [*waiting, *self._waiting]:
                if written.done():
                    continue
                if isinstance(e, asyncio.CancelledError):
                    written.cancel()
                else:
                    written.set_exception(e)
            self._waiting = []
            if not isinstance(e, Exception):
                raise
        finally:
            self._writer = None


async def finish_file(
    conn: asyncpg.Connection | asyncpg.Pool, key: FileKey, status: str, **fields: Any
) -> None:
    """Set the final ``status`` and counts (``fields`` name ledger columns of our own)."""
    sets = "".join(
        f", {quote_ident(LEDGER.column(name).name)} = ${i}" for i, name in enumerate(fields, 6)
    )
    await conn.execute(
        f"UPDATE piwik_ledger SET status = $5, updated_at = now(){sets}"  # noqa: S608 - our names
        " WHERE site = $1 AND day = $2 AND s3_key = $3 AND etag = $4",
        *key.args(),
        status,
        *fields.values(),
    )
