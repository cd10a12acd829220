"""The source side of a sync, whichever database the source is: read a table's catalog, map
its columns to the warehouse dialect, find the cursor's upper bound, and stream the rows
out as CSV parts. ``open_sync_source`` picks the dialect from the DSN's scheme.

Postgres streams ``COPY (SELECT ...) TO STDOUT``. MySQL/MariaDB streams one server-rendered
CSV line per row (``services.sync.mysql_types``) through asyncmy's unbuffered cursor.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncmy
from asyncmy.cursors import SSCursor
from asyncmy.errors import MySQLError

from services.sync import dialects
from services.sync.catalog import TableInfo, read_table
from services.sync.concurrency import task_group
from services.sync.errors import SourceRowTooLarge
from services.sync.export import (
    ExportResult,
    ExportTarget,
    PartCallback,
    PartWriter,
    export_query,
    export_stream,
)
from services.sync.mysql_catalog import read_mysql_table
from services.sync.mysql_types import (
    INTEGER_TYPES,
    MASK_BITS,
    KeySlice,
    MySQLColumn,
    key_slices,
    key_span_sql,
    mysql_column,
    row_select_sql,
)
from services.sync.types import map_type
from shared.db import DatabaseUnavailable, quote_ident
from shared.errors import describe as describe_error
from shared.mysql import mysql_params, quote_mysql_ident
from shared.settings import CoreSettings
from shared.source import MySQLSource, PostgresSource, SourceDatabase, open_source

__all__ = ["SyncSource", "PostgresSyncSource", "MySQLSyncSource", "open_sync_source"]

WarehouseColumns = list[tuple[str, str, bool]]

# Rows per fetch from MySQL (fewer for small parts, which are cut between batches); the
# socket is read only while a batch is fetched.
_MYSQL_BATCH_ROWS = 5000
_MYSQL_BATCH_BYTES_GUESS = 2048
_RECEIVE_BUFFER_BYTES = 1024 * 1024
# An incremental export reads its changed rows over up to this many connections, each
# range holding at least _MYSQL_STREAM_ROWS of them.
_MYSQL_STREAMS = 4
_MYSQL_STREAM_ROWS = 1000


class SyncSource(ABC):
    """What the runner asks of the source database."""

    dialect: str

    def __init__(self, db: SourceDatabase) -> None:
        self.db = db

    @abstractmethod
    async def describe(self, table: str) -> TableInfo | None:
        """``table``'s columns and primary key, or None when it does not exist."""

    @abstractmethod
    def warehouse_columns(self, info: TableInfo, dialect: str) -> WarehouseColumns:
        """``(name, warehouse type, not null)`` per column; UnmappedType for a type the
        warehouse ``dialect`` cannot hold."""

    @abstractmethod
    async def max_value(self, table: str, column: str) -> Any:
        """``max(column)`` now (datetimes in UTC)."""

    @abstractmethod
    async def export(
        self,
        s3: Any,
        target: ExportTarget,
        info: TableInfo,
        cursor: str | None,
        cursor_range: Sequence[Any],
        on_part: PartCallback | None = None,
    ) -> ExportResult:
        """Stream the table (with ``cursor``: rows with ``lower < cursor <= upper``) into
        gzip CSV parts on S3."""

    async def close(self) -> None:
        await self.db.close()


class PostgresSyncSource(SyncSource):
    dialect = "postgres"

    async def describe(self, table: str) -> TableInfo | None:
        async with self.db.pool.acquire() as conn:
            return await read_table(conn, table)

    def warehouse_columns(self, info: TableInfo, dialect: str) -> WarehouseColumns:
        return [
            (c.name, map_type(info.name, c.name, c.source_type, dialect), c.not_null)
            for c in info.columns
        ]

    async def max_value(self, table: str, column: str) -> Any:
        return await self.db.pool.fetchval(
            f"SELECT max({quote_ident(column)}) FROM {quote_ident(table)}"  # noqa: S608
        )

    async def export(
        self,
        s3: Any,
        target: ExportTarget,
        info: TableInfo,
        cursor: str | None,
        cursor_range: Sequence[Any],
        on_part: PartCallback | None = None,
    ) -> ExportResult:
        query = dialects.select_sql(info.name, info.column_names, cursor)
        args = tuple(cursor_range) if cursor else ()
        async with self.db.pool.acquire() as conn:
            return await export_query(conn, s3, target, query, *args, on_part=on_part)


def _utc(value: Any) -> Any:
    """MySQL datetimes carry no zone; sessions are UTC, so they are UTC."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class _ReadWhileFetching:
    """asyncmy's unbuffered cursor reads the socket into its buffer however far behind the
    consumer is (a whole table, when uploads are slower than the network). Reading only
    while a batch is fetched, from a socket with a small receive buffer, keeps memory flat:
    the server waits, up to net_write_timeout."""

    def __init__(self, conn: Any) -> None:
        self.transport = getattr(conn, "_transport", None)
        if self.transport is None:  # pinned asyncmy has it; a changed one must not stream blind
            raise RuntimeError("asyncmy connection has no _transport: cannot pace the stream")
        self.transport.pause_reading()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)

    async def fetch(self, cursor: Any, size: int) -> list[tuple]:
        self.transport.resume_reading()
        try:
            return await cursor.fetchmany(size)
        finally:
            self.transport.pause_reading()

    def release(self) -> None:
        self.transport.resume_reading()


def _count_nulled(batch: list[tuple], masks: int, counts: list[int]) -> None:
    for row in batch:
        for k in range(masks):
            mask = row[1 + k]
            while mask:
                low = mask & -mask
                counts[k * MASK_BITS + low.bit_length() - 1] += 1
                mask ^= low


class MySQLSyncSource(SyncSource):
    dialect = "mysql"

    def __init__(self, db: SourceDatabase, dsn: str, command_timeout_s: float) -> None:
        super().__init__(db)
        self.params = mysql_params(dsn)
        self.command_timeout_s = command_timeout_s

    async def describe(self, table: str) -> TableInfo | None:
        return await read_mysql_table(self.db.pool, table)

    def _columns(self, info: TableInfo) -> list[MySQLColumn]:
        return [mysql_column(info.name, c.name, c.source_type) for c in info.columns]

    def warehouse_columns(self, info: TableInfo, dialect: str) -> WarehouseColumns:
        return [
            (c.name, map_type(info.name, c.name, c.pg_type, dialect), i.not_null)
            for c, i in zip(self._columns(info), info.columns, strict=True)
        ]

    async def max_value(self, table: str, column: str) -> Any:
        sql = f"SELECT MAX({quote_mysql_ident(column)}) AS v FROM {quote_mysql_ident(table)}"  # noqa: S608
        return _utc(await self.db.fetchval(sql))

    async def export(
        self,
        s3: Any,
        target: ExportTarget,
        info: TableInfo,
        cursor: str | None,
        cursor_range: Sequence[Any],
        on_part: PartCallback | None = None,
    ) -> ExportResult:
        columns = self._columns(info)
        args = tuple(_naive_utc(v) for v in cursor_range) if cursor else ()
        key, slices = await self._key_slices(info, columns, cursor, args)
        nullable = [c.name for c in columns if c.nulled_sql]
        counts = [0] * len(nullable)

        async def produce(parts: PartWriter, result: ExportResult) -> int:
            async with task_group() as group:
                streams = [
                    group.create_task(
                        self._stream(
                            info.name,
                            parts,
                            *row_select_sql(info.name, columns, cursor, key, key_slice),
                            (*args, *(b for b in key_slice if b is not None)) or None,
                            counts,
                            target.part_size_bytes,
                        )
                    )
                    for key_slice in slices
                ]
            result.nulled = {name: n for name, n in zip(nullable, counts, strict=True) if n}
            return sum(stream.result() for stream in streams)

        return await export_stream(s3, target, produce, on_part)

    async def _key_slices(
        self, info: TableInfo, columns: Sequence[MySQLColumn], cursor: str | None, args: tuple
    ) -> tuple[str | None, list[KeySlice]]:
        """An incremental export's changed rows lie anywhere in the table: reading them in
        key ranges over several connections overlaps InnoDB's page reads (a pool smaller
        than the table reads them from disk one at a time). A full export stays one query:
        one consistent snapshot."""
        types = {c.name: c.pg_type for c in columns}
        if not cursor or len(info.primary_key) != 1:
            return None, [(None, None)]
        (key,) = info.primary_key
        if types[key] not in INTEGER_TYPES:
            return None, [(None, None)]
        span = await self.db.fetchrow(key_span_sql(info.name, cursor, key), *args)
        if not span or not span["count"]:
            return None, [(None, None)]
        slices = key_slices(
            int(span["lowest"]),
            int(span["highest"]),
            span["count"],
            _MYSQL_STREAMS,
            _MYSQL_STREAM_ROWS,
        )
        return key, slices

    async def _stream(
        self,
        table: str,
        parts: PartWriter,
        sql: str,
        masks: int,
        args: tuple | None,
        counts: list[int],
        part_size_bytes: int,
    ) -> int:
        """One export query on its own connection (bytes, not str: lines go to the parts
        as the server sent them); returns its rows and adds its nulled values to ``counts``."""
        try:
            conn = await asyncmy.connect(
                **{**self.params.connect_kwargs(), "use_unicode": False},
                connect_timeout=10,
                read_timeout=self.command_timeout_s,
            )
        except (OSError, MySQLError, TimeoutError) as e:
            raise DatabaseUnavailable(f"source database unreachable: {describe_error(e)}") from e
        rows = 0
        try:
            async with conn.cursor() as session:
                # The server waits while uploads catch up; let it wait as long as we would.
                timeout = int(self.command_timeout_s)
                await session.execute(f"SET SESSION net_write_timeout = {timeout}")
            stream = conn.cursor(SSCursor)
            await stream.execute(sql, args)
            paced = _ReadWhileFetching(conn)
            size = max(16, min(_MYSQL_BATCH_ROWS, part_size_bytes // _MYSQL_BATCH_BYTES_GUESS))
            try:  # on a failure the connection is closed unread (closing the cursor would drain it)
                while batch := await paced.fetch(stream, size):
                    try:
                        data = b"\n".join([row[0] for row in batch])
                    except TypeError:
                        raise SourceRowTooLarge(
                            f"{table}: a row's CSV exceeds the server's max_allowed_packet"
                            " (MySQL returned NULL for it); raise max_allowed_packet"
                        ) from None
                    await parts.write_records(data + b"\n")
                    rows += len(batch)
                    if masks:
                        _count_nulled(batch, masks, counts)
            finally:
                paced.release()
            await stream.close()
        finally:
            conn.close()
        return rows


async def open_sync_source(core: CoreSettings) -> SyncSource:
    """The sync source on ``core.source_dsn`` (a pool of 4)."""
    dsn = core.source_dsn or ""
    db = await open_source(dsn, max_size=4, command_timeout_s=core.db_command_timeout_s)
    if isinstance(db, MySQLSource):
        return MySQLSyncSource(db, dsn, core.db_command_timeout_s)
    assert isinstance(db, PostgresSource)
    return PostgresSyncSource(db)
