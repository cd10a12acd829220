"""Importing one site's day: each candidate file parsed, its day's hits sent to Matomo by
visitor-partitioned recorders (acknowledged batches recorded in the ledger so a crashed
file resumes where it stopped), loaded into ``web_hits`` and archived."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from services.piwik import ledger
from services.piwik.errors import BadLogFile, MatomoError
from services.piwik.hits import Hit
from services.piwik.ledger import FileKey
from services.piwik.matomo import Matomo
from services.piwik.parsing import parse_lines, unpack
from services.piwik.s3logs import LogObject, archive, archive_key, download, list_day_objects
from services.piwik.settings import PiwikSettings
from services.piwik.sites import Site
from services.piwik.tracking import (
    batches,
    day_bounds_utc,
    partition,
    tracking_request,
    visitor_key,
)
from services.piwik.warehouse import load_web_hits
from shared.logging import get_logger

__all__ = ["Clients", "FileReport", "DayReport", "import_day"]

log = get_logger("forklift.piwik")


@dataclass
class Clients:
    """What an import uses; ``matomo`` None = Matomo not configured."""

    warehouse: asyncpg.Pool
    s3: Any
    matomo: Matomo | None
    executor: Executor | None = None


@dataclass
class FileReport:
    key: str
    status: str  # done | skipped | failed | partial | busy | dry-run
    lines: int = 0
    hits: int = 0
    bad_lines: int = 0
    tracked: int = 0
    sent: int = 0
    error: str = ""


@dataclass
class DayReport:
    site: str
    day: date
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.status in ("done", "skipped", "dry-run") for f in self.files)

    def count(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def line(self) -> str:
        statuses = ", ".join(
            f"{f.key}: {f.status}{' ' + f.error if f.error else ''}" for f in self.files
        )
        return (
            f"{self.site} {self.day}: {len(self.files)} files, {self.count('lines')} lines,"
            f" {self.count('hits')} hits, {self.count('bad_lines')} bad lines,"
            f" {self.count('sent')} sent in {self.seconds:.1f}s"
            + (f" [{statuses}]" if statuses else "")
        )


@dataclass
class _Parsed:
    lines: list[str]
    hits: list[Hit]
    bad_lines: int
    samples: list[str]


async def _parse(clients: Clients, site: Site, obj: LogObject, raw: bytes, day: date) -> _Parsed:
    lines = await asyncio.to_thread(unpack, obj.key, raw)
    result = await parse_lines(site.log_format, lines, clients.executor)
    if not result.hits and result.bad_lines:
        raise BadLogFile(f"{obj.key}: no line is in the {site.log_format} format")
    start, end = day_bounds_utc(day, site.timezone)
    hits = [h for h in result.hits if start <= h.time < end]
    return _Parsed(lines, hits, result.bad_lines, result.samples)


async def _record(
    clients: Clients,
    site: Site,
    key: FileKey,
    hits: list[Hit],
    todo: list[list[int]],
    recorder: int,
    acked: int,
) -> int:
    """Send one recorder's remaining batches in order; the hits it sent."""
    assert clients.matomo is not None
    sent = 0
    for batch in todo:
        requests = [tracking_request(hits[i], site.id_site, site.scheme, site.name) for i in batch]
        tracked, invalid = await clients.matomo.track_bulk(requests)
        acked += 1
        sent += len(batch)
        await ledger.ack_batch(clients.warehouse, key, recorder, acked, tracked, invalid)
    return sent


async def _send(
    clients: Clients, site: Site, key: FileKey, hits: list[Hit], progress: ledger.Progress
) -> int:
    """Send what the ledger does not record as acknowledged; MatomoError if any recorder
    failed (after every recorder stopped, so the ledger is exact)."""
    if clients.matomo is None or not hits:
        return 0
    keys = [visitor_key(h) for h in hits]
    parts = partition(keys, progress.recorders)
    results = await asyncio.gather(
        *(
            _record(clients, site, key, hits, batches(part, progress.batch_size)[acked:], r, acked)
            for r, (part, acked) in enumerate(zip(parts, progress.acked_batches, strict=True))
        ),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise MatomoError(str(errors[0])) from errors[0]
    return sum(r for r in results if isinstance(r, int))


async def _progress(
    clients: Clients,
    settings: PiwikSettings,
    key: FileKey,
    obj: LogObject,
    run_id: str,
    force: bool,
) -> ledger.Progress | None:
    """Where this run starts the file: None = already done; a partial file resumes with
    the recorders and batch size it started with, so the batches are the same."""
    existing = await ledger.load_progress(clients.warehouse, key)
    if existing is not None and not force:
        if existing.status == "done":
            return None
        if existing.status in ("running", "partial"):
            await ledger.resume_file(clients.warehouse, key, run_id)
            return existing
    await ledger.start_file(
        clients.warehouse, key, run_id, settings.recorders, settings.batch_size, obj.size_bytes
    )
    return ledger.Progress(
        "running", settings.recorders, settings.batch_size, [0] * settings.recorders, 0, 0
    )


async def _dry_run_file(
    clients: Clients, settings: PiwikSettings, site: Site, day: date, obj: LogObject, force: bool
) -> FileReport:
    key = FileKey(site.name, day, obj.key, obj.etag)
    existing = await ledger.load_progress(clients.warehouse, key)
    if existing is not None and existing.status == "done" and not force:
        return FileReport(obj.key, "skipped")
    try:
        parsed = await _parse(
            clients, site, obj, await download(clients.s3, settings.pull_bucket, obj.key), day
        )
    except BadLogFile as e:
        return FileReport(obj.key, "failed", error=str(e))
    requests = [tracking_request(h, site.id_site, site.scheme, site.name) for h in parsed.hits]
    return FileReport(obj.key, "dry-run", len(parsed.lines), len(requests), parsed.bad_lines)


@asynccontextmanager
async def _file_lock(pool: asyncpg.Pool, key: FileKey) -> AsyncIterator[bool]:
    """Hold a session advisory lock on (site, S3 key) while importing it; yields whether
    this run got it, so two runs (the daily cron and a manual import) never send one file
    at the same time."""
    name = f"piwik:{key.site}:{key.s3_key}"
    async with pool.acquire() as conn:
        locked = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name)
        try:
            yield locked
        finally:
            if locked:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", name)


async def _import_file(
    clients: Clients,
    settings: PiwikSettings,
    site: Site,
    day: date,
    obj: LogObject,
    run_id: str,
    force: bool,
) -> FileReport:
    key = FileKey(site.name, day, obj.key, obj.etag)
    async with _file_lock(clients.warehouse, key) as locked:
        if not locked:
            log.warning("piwik.file.busy", site=site.name, key=obj.key)
            return FileReport(obj.key, "busy", error="being imported by another run")
        return await _import_locked_file(clients, settings, site, key, obj, run_id, force)


async def _import_locked_file(
    clients: Clients,
    settings: PiwikSettings,
    site: Site,
    key: FileKey,
    obj: LogObject,
    run_id: str,
    force: bool,
) -> FileReport:
    day = key.day
    progress = await _progress(clients, settings, key, obj, run_id, force)
    if progress is None:
        return FileReport(obj.key, "skipped")
    try:
        raw = await download(clients.s3, settings.pull_bucket, obj.key)
        parsed = await _parse(clients, site, obj, raw, day)
    except BadLogFile as e:
        await ledger.finish_file(clients.warehouse, key, "failed", error=str(e))
        log.warning("piwik.file.failed", site=site.name, key=obj.key, error=str(e))
        return FileReport(obj.key, "failed", error=str(e))
    counts = {"lines": len(parsed.lines), "hits": len(parsed.hits), "bad_lines": parsed.bad_lines}
    try:
        sent = await _send(clients, site, key, parsed.hits, progress)
    except MatomoError as e:
        await ledger.finish_file(clients.warehouse, key, "partial", error=str(e), **counts)
        log.warning("piwik.file.partial", site=site.name, key=obj.key, error=str(e))
        return FileReport(obj.key, "partial", error=str(e), **counts)
    archived = archive_key(settings.archive_prefix, site.name, day, obj.key)
    # gzip + upload (in a thread) overlaps the COPY; the file is done only if both succeed.
    archiving = asyncio.create_task(
        archive(clients.s3, settings.push_bucket, archived, parsed.lines)
    )
    start, end = day_bounds_utc(day, site.timezone)
    times = [h.time for h in parsed.hits]
    async with clients.warehouse.acquire() as conn, conn.transaction():
        try:
            await load_web_hits(conn, site.name, obj.key, (start, end), parsed.hits)
        finally:
            await archiving
        await ledger.finish_file(
            conn,
            key,
            "done",
            bad_samples=parsed.samples,
            archive_key=archived,
            first_hit=min(times, default=None),
            last_hit=max(times, default=None),
            **counts,
        )
    log.info("piwik.file.done", site=site.name, key=obj.key, sent=sent, **counts)
    return FileReport(obj.key, "done", sent=sent, **counts)


async def import_day(
    clients: Clients,
    settings: PiwikSettings,
    site: Site,
    day: date,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> DayReport:
    """Import every file of ``site`` that may hold lines of ``day`` (in the site's
    timezone); a bad or unfinished file does not stop the others."""
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:12]
    start, end = day_bounds_utc(day, site.timezone)
    objects = await list_day_objects(
        clients.s3, settings.pull_bucket, site, start, end, settings.modified_lookahead_days
    )
    report = DayReport(site.name, day)
    for obj in objects:
        if dry_run:
            report.files.append(await _dry_run_file(clients, settings, site, day, obj, force))
        else:
            report.files.append(
                await _import_file(clients, settings, site, day, obj, run_id, force)
            )
    if not dry_run and report.ok and clients.matomo and settings.trigger_archiving and objects:
        await clients.matomo.invalidate_reports(site.id_site, day)
    report.seconds = time.monotonic() - started
    log.info(
        "piwik.day.done",
        site=site.name,
        day=day.isoformat(),
        run_id=run_id,
        files=len(objects),
        hits=report.count("hits"),
        sent=report.count("sent"),
        ok=report.ok,
    )
    return report
