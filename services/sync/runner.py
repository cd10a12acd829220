"""One table end to end: lock, export to S3, load, swap or merge, watermark and outbox,
cleanup, and the aggregator's wake-up message. ``sync_all`` runs every configured table."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from redis.asyncio import Redis

from services.sync import dialects
from services.sync.catalog import TableInfo
from services.sync.concurrency import task_group
from services.sync.errors import SchemaMismatch, StorageError, UnknownTable
from services.sync.export import ExportResult, ExportTarget, PartCallback
from services.sync.layout import manifest_json, manifest_key, new_run_id, table_prefix
from services.sync.load import load_postgres, load_redshift
from services.sync.locks import table_lock
from services.sync.s3 import delete_prefix, put_bytes
from services.sync.settings import Mode, SyncSettings
from services.sync.source import SyncSource
from services.sync.warehouse import Landing, discard, prepare, publish
from shared.errors import ForkliftError, describe
from shared.facts import Reach, reaches
from shared.handoff import DYNAMO_PLAN_JOB, DYNAMO_PLAN_TABLES, wake
from shared.logging import get_logger
from shared.source import SOURCE_ERRORS

__all__ = [
    "SyncClients",
    "TableReport",
    "SyncFailure",
    "check_table",
    "sync_table",
    "sync_all",
]

log = get_logger("forklift.sync")

# What fails one table in ``sync_all`` without stopping the others.
_TABLE_FAILURES = (
    ForkliftError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    *SOURCE_ERRORS,
    OSError,
    TimeoutError,
)


@dataclass
class SyncClients:
    """Open clients a sync uses (created and closed by the CLI command or worker)."""

    source: SyncSource
    warehouse: asyncpg.Pool
    s3: Any
    redis: Redis
    dialect: str = "postgres"


@dataclass
class TableReport:
    """What one table's run did."""

    table: str
    mode: Mode
    run_id: str
    rows: int = 0
    raw_bytes: int = 0
    gzip_bytes: int = 0
    parts: int = 0
    phases_s: dict[str, float] = field(default_factory=dict)
    hours: list[str] = field(default_factory=list)
    # Per column, values the source holds that the warehouse cannot (zero dates) sent as NULL.
    nulled: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        phases = " ".join(f"{name}={s:.2f}s" for name, s in self.phases_s.items())
        nulled = ""
        if self.nulled:
            columns = ", ".join(f"{name}={n}" for name, n in self.nulled.items())
            nulled = f" invalid_dates={sum(self.nulled.values())} ({columns})"
        return (
            f"{self.table}: {self.mode} rows={self.rows} raw_bytes={self.raw_bytes}"
            f" gzip_bytes={self.gzip_bytes} parts={self.parts} {phases}".rstrip()
            + nulled
        )


@dataclass
class SyncFailure:
    """A table whose run failed, and why."""

    table: str
    error: str

    def line(self) -> str:
        return f"{self.table}: FAILED {self.error}"


async def _watermark(conn: asyncpg.Connection, table: str) -> datetime | None:
    return await conn.fetchval("SELECT watermark FROM sync_state WHERE table_name = $1", table)


def _fact_reaches(info: TableInfo) -> tuple[Reach, ...]:
    """How the table's rows reach the facts (``shared.facts``); SchemaMismatch when the
    source lacks a column the facts read, or the key to tell changed rows apart."""
    found = reaches(info.name)
    missing = sorted({c for r in found for c in r.columns} - set(info.column_names))
    if missing:
        raise SchemaMismatch(
            f"{info.name}: the fact tables read column(s) {', '.join(missing)}, which the"
            " source table lacks"
        )
    if any(r.path for r in found) and not info.primary_key:
        raise SchemaMismatch(f"{info.name}: the fact tables read it, so it needs a primary key")
    return found


def _check_incremental(info: TableInfo, cursor: str) -> None:
    if cursor not in info.column_names:
        raise SchemaMismatch(f"{info.name}: incremental mode needs a {cursor!r} column")
    if not info.primary_key:
        raise SchemaMismatch(f"{info.name}: incremental mode needs a primary key")


async def _plan(
    clients: SyncClients, settings: SyncSettings, table: str, mode: Mode
) -> tuple[TableInfo, list[tuple[str, str, bool]], Mode, tuple[Any, ...]]:
    """Read the source catalog, map its types, choose the effective mode and the cursor
    range ``(lower, upper)`` (empty for a full export)."""
    info = await clients.source.describe(table)
    if info is None:
        raise SchemaMismatch(f"{table}: no such table in the source database")
    mapped = clients.source.warehouse_columns(info, clients.dialect)
    cursor = settings.cursor_column
    has_cursor = cursor in info.column_names
    upper = await clients.source.max_value(table, cursor) if has_cursor else None
    if mode == "incremental":
        _check_incremental(info, cursor)
        async with clients.warehouse.acquire() as conn:
            watermark = await _watermark(conn, table)
        if watermark is None:
            log.info("sync.incremental.first_run_full", table=table)
            return info, mapped, "full", (upper,)
        lower = watermark - timedelta(seconds=settings.overlap_s)
        return info, mapped, "incremental", (lower, upper)
    return info, mapped, "full", (upper,)


async def _export(
    clients: SyncClients,
    settings: SyncSettings,
    info: TableInfo,
    mode: Mode,
    cursor_range: tuple[Any, ...],
    run_id: str,
    on_part: PartCallback | None = None,
) -> ExportResult:
    target = ExportTarget(
        bucket=settings.bucket,
        prefix=settings.prefix,
        table=info.name,
        run_id=run_id,
        part_size_bytes=settings.part_size_bytes,
        chunk_bytes=settings.multipart_chunk_bytes,
        gzip_level=settings.gzip_level,
        upload_concurrency=settings.upload_concurrency,
    )
    cursor = settings.cursor_column if mode == "incremental" else None
    result = await clients.source.export(clients.s3, target, info, cursor, cursor_range, on_part)
    key = manifest_key(settings.prefix, info.name, run_id)
    await put_bytes(
        clients.s3,
        settings.bucket,
        key,
        manifest_json(settings.bucket, result.parts),
        settings.multipart_chunk_bytes,
    )
    return result


def _redshift_options(settings: SyncSettings, table: str) -> tuple[Any, dialects.RedshiftAuth]:
    secret = settings.redshift_secret_access_key
    auth = dialects.RedshiftAuth(
        iam_role=settings.redshift_iam_role,
        access_key_id=settings.redshift_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
    )
    keys = (settings.redshift_distkeys.get(table), settings.redshift_sortkeys.get(table, []))
    return keys, auth


async def _transfer(
    clients: SyncClients,
    settings: SyncSettings,
    conn: asyncpg.Connection,
    landing: Landing,
    export: tuple[TableInfo, Mode, tuple[Any, ...]],
) -> tuple[ExportResult, int]:
    """Export to S3 and load into the staging table; returns the export and rows loaded.
    Postgres loads each part as soon as it is uploaded; Redshift reads the manifest."""
    run_id = landing.run_id
    if clients.dialect == "redshift":
        exported = await _export(clients, settings, *export, run_id)
        manifest = f"s3://{settings.bucket}/{manifest_key(settings.prefix, landing.table, run_id)}"
        if exported.parts:
            _, auth = _redshift_options(settings, landing.table)
            await load_redshift(conn, landing.target, landing.column_names, manifest, auth)
        return exported, exported.rows
    keys: asyncio.Queue = asyncio.Queue()

    async def arrived() -> AsyncIterator[str]:
        while (key := await keys.get()) is not None:
            yield key

    async with task_group() as group:
        loading = group.create_task(
            load_postgres(
                conn, clients.s3, settings.bucket, arrived(), landing.target, landing.column_names
            )
        )
        exported = await _export(clients, settings, *export, run_id, on_part=keys.put)
        await keys.put(None)
    return exported, loading.result()


async def _after_commit(
    clients: SyncClients,
    settings: SyncSettings,
    report: TableReport,
    exported: ExportResult,
    started: float,
) -> None:
    """Clean the table's S3 prefix, wake the aggregator, fill in and log the report."""
    table, mode, run_id = report.table, report.mode, report.run_id
    cleaned = time.monotonic()
    try:
        await delete_prefix(clients.s3, settings.bucket, table_prefix(settings.prefix, table))
    except StorageError as e:  # the data landed; the next successful run cleans up
        log.warning("sync.cleanup.failed", table=table, error=describe(e))
    report.phases_s["cleanup"] = time.monotonic() - cleaned
    # The stale hours are in the aggregator's outbox already; it also drains it every minute.
    if report.hours:
        await wake(clients.redis, "aggregator", "drain_outbox", f"sync:{table}")
    if table in DYNAMO_PLAN_TABLES and exported.rows:
        await wake(clients.redis, "dynamo_pump", DYNAMO_PLAN_JOB, job_id="dynamo:plan")
    report.rows, report.parts = exported.rows, len(exported.parts)
    report.raw_bytes, report.gzip_bytes = exported.raw_bytes, exported.gzip_bytes
    report.nulled = exported.nulled
    if report.nulled:
        log.warning("sync.invalid_dates_nulled", table=table, columns=report.nulled)
    log.info(
        "sync.table.done",
        table=table,
        mode=mode,
        run_id=run_id,
        rows=report.rows,
        parts=report.parts,
        raw_bytes=report.raw_bytes,
        gzip_bytes=report.gzip_bytes,
        hours=len(report.hours),
        seconds=round(time.monotonic() - started, 3),
        **{f"{k}_s": round(v, 3) for k, v in report.phases_s.items()},
    )


async def _run(clients: SyncClients, settings: SyncSettings, table: str, mode: Mode) -> TableReport:
    run_id = new_run_id(datetime.now(UTC))
    started = time.monotonic()
    info, mapped, mode, cursor_range = await _plan(clients, settings, table, mode)
    report = TableReport(table, mode, run_id)
    log.debug("sync.table.start", table=table, mode=mode, run_id=run_id)
    landing = Landing(
        table=table,
        mode=mode,
        run_id=run_id,
        columns=tuple(mapped),
        primary_key=info.primary_key,
        watermark=cursor_range[-1],
        reaches=_fact_reaches(info),
    )
    keys, _ = _redshift_options(settings, table)
    async with clients.warehouse.acquire() as conn:
        watermark = await _watermark(conn, table)
        if landing.watermark is None and watermark is not None:
            landing = dataclasses.replace(landing, watermark=watermark)  # nothing new
        await prepare(conn, landing, clients.dialect, keys)
        try:
            transfer_started = time.monotonic()
            exported, loaded = await _transfer(
                clients, settings, conn, landing, (info, mode, cursor_range)
            )
            published = time.monotonic()
            report.hours = await publish(conn, landing, clients.dialect, loaded)
        except BaseException:
            await discard(conn, landing)
            raise
    report.phases_s["export"] = exported.export_s
    report.phases_s["upload"] = exported.upload_s
    # Loading overlaps export and upload; this is the time it adds after them.
    report.phases_s["load"] = published - transfer_started - exported.export_s - exported.upload_s
    report.phases_s["swap" if mode == "full" else "merge"] = time.monotonic() - published
    await _after_commit(clients, settings, report, exported, started)
    return report


def check_table(settings: SyncSettings, table: str) -> None:
    """UnknownTable (exit 2, listing the configured tables) unless ``table`` is configured."""
    if table not in settings.tables:
        raise UnknownTable(
            f"unknown table {table!r}; configured tables: {', '.join(settings.tables)}"
        )


async def sync_table(
    clients: SyncClients, settings: SyncSettings, table: str, mode: Mode | None = None
) -> TableReport:
    """Sync one configured table now (``mode`` overrides its configured mode) under its
    lock. The live table changes only in the final transaction."""
    check_table(settings, table)
    async with table_lock(clients.redis, table, settings.lock_ttl_s, settings.lock_wait_s):
        return await _run(clients, settings, table, mode or settings.mode_for(table))


async def sync_all(clients: SyncClients, settings: SyncSettings) -> list[TableReport | SyncFailure]:
    """Sync every configured table in turn; a table's failure is logged and reported, and
    the others still run (the failed one is retried next run)."""
    results: list[TableReport | SyncFailure] = []
    for table in settings.tables:
        try:
            results.append(await sync_table(clients, settings, table))
        except _TABLE_FAILURES as e:
            log.error("sync.table.failed", table=table, error=describe(e))
            results.append(SyncFailure(table, describe(e)))
    return results
