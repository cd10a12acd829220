"""Importing log files into Matomo and the warehouse, from S3 (a site's days) or from local
paths: each file read once, its lines counted and sent on the days they belong to (each
line's own time in the site's timezone), the hits of each day sent by visitor-partitioned
recorders (acknowledged batches recorded in the ledger so that a crashed import resumes
where it stopped), loaded into ``web_hits`` and archived; then Matomo told to re-archive
every day that got hits, whatever happened to other files."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from botocore.exceptions import ClientError
from tqdm import tqdm

from services.piwik import ledger
from services.piwik.chunks import ChunkPlan, DayPart
from services.piwik.errors import BadLogFile, BadPath, MatomoError
from services.piwik.file_days import PROBE_LINES, DaySpan, load_span, probe_span, store_span
from services.piwik.ledger import FileKey
from services.piwik.local_files import local_object, read_local
from services.piwik.matomo import Matomo
from services.piwik.parsing import (
    FileParse,
    Merging,
    decode_lines,
    detect,
    parse_chunks,
    parse_file,
    unpack,
)
from services.piwik.s3logs import (
    LogObject,
    archive,
    archive_key,
    download,
    download_range,
    list_site_objects,
)
from services.piwik.schema import WEB_HITS_COLUMNS
from services.piwik.settings import PiwikSettings
from services.piwik.sites import Site
from services.piwik.tracking import SKIP_REASONS, day_bounds_utc
from shared.logging import get_logger

__all__ = ["Clients", "FileReport", "DayReport", "import_days", "import_day", "import_files"]

log = get_logger("forklift.piwik")

PROBE_BYTES = 64 * 1024


@dataclass
class Clients:
    """What an import uses; ``matomo`` None = Matomo not configured."""

    warehouse: asyncpg.Pool
    s3: Any
    matomo: Matomo | None
    executor: Executor | None = None


@dataclass
class FileReport:
    """One file's outcome on one day."""

    key: str
    status: str  # done | skipped | failed | partial | busy | dry-run
    lines: int = 0
    hits: int = 0
    bad_lines: int = 0
    skipped: int = 0  # parsed hits not sent under the site's options
    tracked: int = 0
    sent: int = 0
    duplicates: int = 0  # resumed: hits the previous run may have had recorded already
    error: str = ""

    def describe(self) -> str:
        text = f"{self.key}: {self.status}"
        if self.error:
            text += f" {self.error}"
        if self.duplicates:
            text += (
                f" (resumed: up to {self.duplicates} hits of it may be recorded twice,"
                " the batches in flight when the previous run stopped)"
            )
        return text


@dataclass
class DayReport:
    """One site's day: its files' outcomes."""

    site: str
    day: date
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    refresh_error: str = ""  # Matomo could not be told to re-archive the day

    @property
    def ok(self) -> bool:
        statuses_ok = all(f.status in ("done", "skipped", "dry-run") for f in self.files)
        return statuses_ok and not self.refresh_error

    def count(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def line(self) -> str:
        statuses = ", ".join(f.describe() for f in self.files)
        text = (
            f"{self.site} {self.day}: {len(self.files)} files, {self.count('lines')} lines,"
            f" {self.count('hits')} hits, {self.count('bad_lines')} bad lines,"
            f" {self.count('skipped')} skipped, {self.count('sent')} sent in {self.seconds:.1f}s"
        )
        if statuses:
            text += f" [{statuses}]"
        if self.refresh_error:
            text += f"; reports not refreshed: {self.refresh_error}"
        return text


@dataclass
class _Content:
    """A file read: its bytes, its unpacked text, its lines."""

    raw: bytes
    text: bytes
    lines: list[str]


@dataclass(frozen=True)
class _Source:
    """A log file to import and how to read it."""

    obj: LogObject
    read: Callable[[], Awaitable[bytes]]
    archived: bool  # S3 files are archived to the push bucket once imported


def _format_name(configured: str, read_as: str) -> str:
    """How a failed file's format is named: as configured, and as read when that differs."""
    if configured == "auto":
        return f"format detected from its first lines ({read_as})"
    return f"{configured} format" + (f" (read as {read_as})" if read_as != configured else "")


def _shares(parts: dict[int, DayPart], size: int) -> dict[int, int]:
    """The file's bytes split over its days in proportion to their lines (exact sum)."""
    total = sum(p.lines for p in parts.values()) or 1
    days = sorted(parts)
    shares = {d: size * parts[d].lines // total for d in days[:-1]}
    shares[days[-1]] = size - sum(shares.values())
    return shares


@asynccontextmanager
async def _file_lock(pool: asyncpg.Pool, site: str, key: str) -> AsyncIterator[bool]:
    """Hold a session advisory lock on (site, key) while importing it; yields whether this
    run got it, so two runs (the daily cron and a manual import) never send one file at
    the same time."""
    name = f"piwik:{site}:{key}"
    async with pool.acquire() as conn:
        locked = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name)
        try:
            yield locked
        finally:
            if locked:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", name)


async def _copy_source(rows: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in rows:
        yield chunk


class _Loading:
    """A file's ``web_hits`` rows COPY'd on the load transaction's connection as its
    chunks are parsed, in file order, by one task: each day's rows of the file from an
    earlier run deleted before its first new ones (a re-import replaces them)."""

    def __init__(self, run: _Run, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._run = run
        self._cleared: set[date] = set()
        self._queue: asyncio.Queue[tuple[FileKey, list[bytes]] | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._copy())

    def add(self, key: FileKey, rows: list[bytes]) -> None:
        """Load ``rows`` (COPY text) of ``key``'s day."""
        self._queue.put_nowait((key, rows))

    async def finish(self, keys: list[FileKey]) -> None:
        """Wait until every row added is loaded (the old rows of ``keys``' days deleted
        even when they got no new ones)."""
        for key in keys:
            self.add(key, [])
        self._queue.put_nowait(None)
        await self._task

    async def stop(self) -> None:
        """Stop loading (a no-op once finished): the connection is free again (an error
        of the load was raised by :meth:`finish`, or the import failed before it)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _copy(self) -> None:
        while (item := await self._queue.get()) is not None:
            key, rows = item
            if key.day not in self._cleared:
                self._cleared.add(key.day)
                await self._run._delete_rows(self.conn, key)
            if rows:
                await self.conn.copy_to_table(
                    "web_hits", source=_copy_source(rows), columns=WEB_HITS_COLUMNS, format="text"
                )


@dataclass
class _Day:
    """A day of a file being sent: its ledger row, hits, counts, report and senders."""

    key: FileKey
    part: DayPart
    counts: dict[str, Any]
    report: FileReport
    stream: _DayStream


class _DayStream:
    """One day of a file, sent as it is parsed: each recorder's requests are cut into the
    same batches as if the day were sent whole (so a resumed day skips exactly its
    acknowledged ones), and a task per recorder sends them in order, recording each
    acknowledged batch in the ledger."""

    def __init__(self, run: _Run, key: FileKey, progress: ledger.Progress) -> None:
        self.key = key
        self.progress = progress
        self.size = progress.batch_size
        recorders = len(progress.acked_batches)
        self._buffers: list[list[str]] = [[] for _ in range(recorders)]
        self._skip = [acked * self.size for acked in progress.acked_batches]
        self._first: list[int] = [0] * recorders  # each recorder's first batch (resume bound)
        self._queues: list[asyncio.Queue[list[str] | None]] = [
            asyncio.Queue() for _ in range(recorders)
        ]
        self._acks = ledger.Acks(run.clients.warehouse, key, progress.acked_batches)
        self._tasks = [
            asyncio.create_task(run.record(self._acks, r, self._queues[r], acked))
            for r, acked in enumerate(progress.acked_batches)
        ]

    def feed(self, requests: list[list[str]]) -> None:
        """The next requests of each recorder, in file order."""
        for recorder, more in enumerate(requests):
            if self._skip[recorder]:
                dropped = min(self._skip[recorder], len(more))
                self._skip[recorder] -= dropped
                more = more[dropped:]
            buffer = self._buffers[recorder]
            buffer.extend(more)
            start = 0
            while len(buffer) - start >= self.size:
                self._emit(recorder, buffer[start : start + self.size])
                start += self.size
            del buffer[:start]

    def _emit(self, recorder: int, batch: list[str]) -> None:
        if not self._first[recorder]:
            self._first[recorder] = len(batch)
        self._queues[recorder].put_nowait(batch)

    def close(self) -> None:
        """No more requests: send the last partial batches."""
        for recorder, buffer in enumerate(self._buffers):
            if buffer:
                self._emit(recorder, buffer)
            self._buffers[recorder] = []
            self._queues[recorder].put_nowait(None)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def result(self) -> tuple[int, int, int, str | None]:
        """(hits sent, hits Matomo tracked in all, hits a previous run may have had
        recorded already (the first batch of each recorder, when resuming), the error
        that stopped a recorder)."""
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        outcomes = [r for r in results if not isinstance(r, BaseException)]
        errors = [error for _, _, error in outcomes if error is not None]
        duplicates = sum(self._first) if self.progress.status in ("running", "partial") else 0
        if duplicates:
            log.warning(
                "piwik.file.resumed",
                site=self.key.site,
                key=self.key.s3_key,
                day=str(self.key.day),
                may_be_duplicated=duplicates,
            )
        tracked = self.progress.tracked + sum(o[1] for o in outcomes)
        return sum(o[0] for o in outcomes), tracked, duplicates, errors[0] if errors else None


class _Run:
    """One command's imports for one site: the reports per day, and the days that got
    hits (their Matomo reports are refreshed at the end)."""

    def __init__(
        self, clients: Clients, settings: PiwikSettings, site: Site, dry_run: bool, force: bool
    ) -> None:
        self.clients = clients
        self.settings = settings
        self.site = site
        self.dry_run = dry_run
        self.force = force
        self.run_id = uuid.uuid4().hex[:12]
        self.reports: dict[date, DayReport] = {}
        self.touched: set[date] = set()

    def report(self, day: date) -> DayReport:
        if day not in self.reports:
            self.reports[day] = DayReport(self.site.name, day)
        return self.reports[day]

    # -- which days a file holds -------------------------------------------------------

    async def span(self, obj: LogObject) -> tuple[DaySpan | None, _Content | None]:
        """The file's days: from the index when it read the whole file, else from its
        key's date, else the index's probe, else a probe now (remembered); and the file's
        content when the probe had to read it all (compressed), for the import to reuse."""
        pool, site = self.clients.warehouse, self.site
        known = await load_span(pool, site.name, obj.key, obj.etag)
        if known is not None and known.exact:
            return known, None
        if site.key_date is not None:
            days = site.key_date.days(obj.key)
            if days is not None:
                return DaySpan(days[0], days[1], exact=False), None
        if known is not None:
            return known, None
        try:
            span, content = await self._probe(obj)
        except ClientError:  # unreadable now: the import tries it and says so
            return None, None
        if span is not None and not self.dry_run:
            await store_span(pool, site.name, obj.key, obj.etag, span)
        return span, content

    async def _probe(self, obj: LogObject) -> tuple[DaySpan | None, _Content | None]:
        """Read the first and last lines of a file: two ranged reads of a plain file, the
        whole of a compressed (or small) one."""
        bucket, s3 = self.settings.pull_bucket, self.clients.s3
        head_bytes = await download_range(s3, bucket, obj.key, 0, PROBE_BYTES - 1)
        whole = obj.size_bytes <= PROBE_BYTES or any(
            head_bytes.startswith(magic) for magic in (b"\x1f\x8b", b"BZh", b"PK\x03\x04")
        )
        if whole:
            raw = (
                head_bytes if obj.size_bytes <= PROBE_BYTES else await download(s3, bucket, obj.key)
            )
            try:
                content = await self._content(obj.key, raw)
            except BadLogFile:
                return None, None
            head, tail = content.lines[:PROBE_LINES], content.lines[-PROBE_LINES:]
        else:
            content = None
            tail_bytes = await download_range(s3, bucket, obj.key, -PROBE_BYTES, 0)
            head = decode_lines(head_bytes, self.site.encoding)[:-1]  # the last may be cut
            tail = decode_lines(tail_bytes, self.site.encoding)[1:]  # the first may be cut
        return probe_span(self.site.log_format, head, tail, self.site.timezone), content

    async def _content(self, key: str, raw: bytes) -> _Content:
        """A file's bytes unpacked and split into lines (in a thread; BadLogFile)."""
        text = await asyncio.to_thread(unpack, key, raw)
        lines = await asyncio.to_thread(decode_lines, text, self.site.encoding)
        return _Content(raw, text, lines)

    # -- importing one file --------------------------------------------------------------

    async def import_source(
        self, source: _Source, wanted: list[date] | None, content: _Content | None = None
    ) -> None:
        """Import the file's lines of the ``wanted`` days (None: of every day it holds)."""
        started = time.monotonic()
        obj = source.obj
        rows = await ledger.load_file(self.clients.warehouse, self.site.name, obj.key, obj.etag)
        done = {day for day, progress in rows.items() if progress.status == "done"}
        touched: list[date] = []
        try:
            if not self.force and self._all_done(wanted, rows, done):
                for day in wanted if wanted is not None else sorted(rows):
                    self.report(day).files.append(FileReport(obj.key, "skipped"))
                    touched.append(day)
                return
            if self.dry_run:
                touched = await self._import(source, wanted, rows, done, content)
                return
            async with _file_lock(self.clients.warehouse, self.site.name, obj.key) as locked:
                if not locked:
                    log.warning("piwik.file.busy", site=self.site.name, key=obj.key)
                    for day in wanted or [self._fallback_day(obj)]:
                        self.report(day).files.append(
                            FileReport(obj.key, "busy", error="being imported by another run")
                        )
                        touched.append(day)
                    return
                touched = await self._import(source, wanted, rows, done, content)
        finally:
            elapsed = time.monotonic() - started
            for day in set(touched):
                self.report(day).seconds += elapsed

    def _all_done(self, wanted: list[date] | None, rows: dict, done: set[date]) -> bool:
        if wanted is not None:
            return bool(wanted) and all(day in done for day in wanted)
        return bool(rows) and len(done) == len(rows)

    def _fallback_day(self, obj: LogObject) -> date:
        """The day a file none of whose lines has a time is reported on: the day it was
        last changed."""
        return obj.modified.astimezone(self.site.timezone).date()

    async def _failed(
        self, obj: LogObject, wanted: list[date] | None, error: str, part: DayPart | None = None
    ) -> list[date]:
        """Record a file that cannot be imported (with its counts and first bad lines)."""
        day = wanted[0] if wanted else self._fallback_day(obj)
        part = part or DayPart()
        report = FileReport(obj.key, "failed", part.lines, 0, part.bad_lines, error=error)
        self.report(day).files.append(report)
        log.warning("piwik.file.failed", site=self.site.name, key=obj.key, error=error)
        if not self.dry_run:
            key = FileKey(self.site.name, day, obj.key, obj.etag)
            await ledger.start_file(
                self.clients.warehouse, key, self.run_id, self.settings.recorders,
                self.settings.batch_size, obj.size_bytes,
            )  # fmt: skip
            await ledger.finish_file(
                self.clients.warehouse, key, "failed", error=error, lines=part.lines,
                bad_lines=part.bad_lines, bad_samples=part.samples,
            )  # fmt: skip
        return [day]

    async def _import(
        self,
        source: _Source,
        wanted: list[date] | None,
        rows: dict[date, ledger.Progress],
        done: set[date],
        content: _Content | None,
    ) -> list[date]:
        obj, site, settings = source.obj, self.site, self.settings
        started = time.monotonic()
        try:
            if content is None:
                content = await self._content(obj.key, await source.read())
            spec = detect(obj.key, site.log_format, content.lines)
        except BadLogFile as e:
            return await self._failed(obj, wanted, str(e))
        except (BadPath, ClientError) as e:  # gone or unreadable since it was listed
            return await self._failed(obj, wanted, f"{obj.key}: cannot read: {e}")
        skip = frozenset(d.toordinal() for d in done) if not self.force else frozenset()
        resumable = {
            d: p for d, p in rows.items() if p.status in ("running", "partial") and not self.force
        }
        plan = ChunkPlan(
            spec,
            site.options,
            site.id_site,
            site.main_url,
            site.timezone.key,
            site.name,
            obj.key,
            days=None if wanted is None else frozenset(d.toordinal() for d in wanted),
            skip_days=skip,
            recorders={d.toordinal(): p.recorders for d, p in resumable.items()},
            default_recorders=settings.recorders,
            dry_run=self.dry_run,
        )
        read = time.monotonic()
        async with self._loading() as loading:
            touched, sending = await self._parse_and_deliver(
                source, plan, content, wanted, resumable, loading, read - started
            )
        for day in sending:
            if day.report.status == "done":
                log.info(
                    "piwik.file.done",
                    site=site.name,
                    key=day.key.s3_key,
                    day=str(day.key.day),
                    **day.counts,
                )
        return touched

    @asynccontextmanager
    async def _loading(self) -> AsyncIterator[_Loading | None]:
        """The transaction that loads a file's ``web_hits`` rows and marks its days done,
        on a connection of its own: committed when the block ends, rolled back when it
        raises. None for a dry run."""
        if self.dry_run:
            yield None
            return
        async with self.clients.warehouse.acquire() as conn, conn.transaction():
            loading = _Loading(self, conn)
            try:
                yield loading
            finally:
                await loading.stop()

    async def _parse_and_deliver(
        self,
        source: _Source,
        plan: ChunkPlan,
        content: _Content,
        wanted: list[date] | None,
        resumable: dict[date, ledger.Progress],
        loading: _Loading | None,
        read_s: float,
    ) -> tuple[list[date], list[_Day]]:
        """Parse the file (sending and loading its days as it goes, unless a dry run) and
        report it: (the days it touched, the days sent)."""
        obj, site = source.obj, self.site
        started = time.monotonic()
        streams: dict[int, _DayStream] = {}
        try:
            if loading is None:
                parsed = await parse_file(plan, content.lines, self.clients.executor)
            else:
                parsed = await self._parse_and_send(
                    plan, content.lines, obj, resumable, streams, loading
                )
        except BaseException:
            for stream in streams.values():
                stream.cancel()
            raise
        log.info(
            "piwik.file.parsed",
            site=site.name,
            key=obj.key,
            format=plan.log_format.name,
            lines=parsed.lines,
            days=len(parsed.days),
            read_s=round(read_s, 3),
            parse_s=round(time.monotonic() - started, 3),
        )
        raw, text = content.raw, content.text
        content.lines = []  # parsed: free them
        if loading is not None:
            span = DaySpan(
                date.fromordinal(min(parsed.days)) if parsed.days else None,
                date.fromordinal(max(parsed.days)) if parsed.days else None,
                exact=True,
            )
            await store_span(self.clients.warehouse, site.name, obj.key, obj.etag, span)
        if not parsed.days:
            if parsed.undated.bad_lines:
                name = _format_name(site.log_format.name, plan.log_format.name)
                error = f"{obj.key}: no line is in the {name}"
                return await self._failed(obj, wanted, error, parsed.undated), []
            return [], []  # no line with a time: nothing to import
        shares = _shares(parsed.days, obj.size_bytes)
        touched: list[date] = []
        sending: list[_Day] = []
        for ordinal, part in sorted(parsed.days.items()):
            day = date.fromordinal(ordinal)
            if wanted is not None and day not in wanted:
                continue
            touched.append(day)
            if not part.requests:  # done before
                self.report(day).files.append(FileReport(obj.key, "skipped"))
                continue
            counts: dict[str, Any] = {
                "lines": part.lines,
                "hits": part.hits,
                "bad_lines": part.bad_lines,
                "size_bytes": shares[ordinal],
                **{f"skipped_{reason}": part.skipped[reason] for reason in SKIP_REASONS},
            }
            skipped = sum(part.skipped.values())
            report = FileReport(obj.key, "dry-run", part.lines, part.hits, part.bad_lines, skipped)
            self.report(day).files.append(report)
            if loading is not None:
                stream = streams[ordinal]
                sending.append(_Day(stream.key, part, counts, report, stream))
        if sending and loading is not None:
            await self._deliver(source, raw, text, sending, loading)
        return touched, sending

    async def _parse_and_send(
        self,
        plan: ChunkPlan,
        lines: list[str],
        obj: LogObject,
        resumable: dict[date, ledger.Progress],
        streams: dict[int, _DayStream],
        loading: _Loading,
    ) -> FileParse:
        """Parse the file in chunks and, as each chunk comes (in file order), send its
        days' hits and load their rows: Matomo and Postgres work while the file is still
        being parsed."""
        merging = Merging()
        async for result in parse_chunks(plan, lines, self.clients.executor):
            for ordinal, part in result.days.items():
                if not part.requests:
                    continue
                stream = streams.get(ordinal)
                if stream is None:
                    day = date.fromordinal(ordinal)
                    key = FileKey(self.site.name, day, obj.key, obj.etag)
                    progress = await self._progress(key, resumable.get(day), obj.size_bytes)
                    stream = streams[ordinal] = _DayStream(self, key, progress)
                stream.feed(part.requests)
                loading.add(stream.key, part.rows)
                part.requests = [[] for _ in part.requests]  # sent by the stream
                part.rows = []  # loaded
            merging.add(result)
        for stream in streams.values():
            stream.close()
        return merging.result()

    async def _deliver(
        self, source: _Source, raw: bytes, text: bytes, days: list[_Day], loading: _Loading
    ) -> None:
        """Wait for each day's hits to be sent and its rows loaded (the days whose every
        hit Matomo acknowledged are marked done, the others' rows taken out again) while
        the file is archived: Matomo, Postgres and S3 work at the same time."""
        settings = self.settings
        archiving = None
        archived = None
        if source.archived:
            first_day = min(d.key.day for d in days)
            archived = archive_key(
                settings.archive_prefix, self.site.name, first_day, source.obj.key
            )
            archiving = asyncio.create_task(
                archive(self.clients.s3, settings.push_bucket, archived, raw, text)
            )
        try:
            for day in days:
                await self._send_day(day)
            await loading.finish([day.key for day in days])
            for day in days:
                if day.report.status == "partial":
                    await self._delete_rows(loading.conn, day.key)
                    continue
                await ledger.finish_file(
                    loading.conn,
                    day.key,
                    "done",
                    bad_samples=day.part.samples,
                    archive_key=archived,
                    first_hit=day.part.first,
                    last_hit=day.part.last,
                    **day.counts,
                )
            if archiving is not None:
                await archiving
        except BaseException:
            if archiving is not None and not archiving.done():
                archiving.cancel()
            for day in days:
                if day.report.status == "done":
                    day.report.status, day.report.error = "partial", "not loaded: interrupted"
            raise

    async def _delete_rows(self, conn: asyncpg.Connection, key: FileKey) -> None:
        start, end = day_bounds_utc(key.day, self.site.timezone)
        await conn.execute(
            "DELETE FROM web_hits WHERE site = $1 AND s3_key = $2 AND hit_time >= $3"
            " AND hit_time < $4",
            key.site,
            key.s3_key,
            start,
            end,
        )

    async def _send_day(self, day: _Day) -> None:
        report = day.report
        report.sent, report.tracked, report.duplicates, error = await day.stream.result()
        if report.sent:
            self.touched.add(day.key.day)
        if error is None:
            report.status = "done"
            return
        report.status, report.error = "partial", error
        await ledger.finish_file(
            self.clients.warehouse, day.key, "partial", error=error, **day.counts
        )
        log.warning(
            "piwik.file.partial",
            site=self.site.name,
            key=day.key.s3_key,
            day=str(day.key.day),
            error=error,
        )

    async def _progress(
        self, key: FileKey, existing: ledger.Progress | None, size: int
    ) -> ledger.Progress:
        """Where this run starts the file's day: a partial day resumes with the recorders
        and batch size it started with, so the batches are the same."""
        pool, settings = self.clients.warehouse, self.settings
        if existing is not None:
            await ledger.resume_file(pool, key, self.run_id)
            return existing
        await ledger.start_file(
            pool, key, self.run_id, settings.recorders, settings.batch_size, size
        )
        return ledger.Progress(
            "new", settings.recorders, settings.batch_size, [0] * settings.recorders, 0, 0
        )

    async def record(
        self, acks: ledger.Acks, recorder: int, queue: asyncio.Queue[list[str] | None], acked: int
    ) -> tuple[int, int, str | None]:
        """Send one recorder's batches as they come: (hits sent, tracked, error)."""
        matomo = self.clients.matomo
        sent = tracked_total = 0
        while (batch := await queue.get()) is not None:
            if matomo is None:
                continue
            try:
                tracked, invalid = await matomo.track_bulk(batch)
            except MatomoError as e:
                return sent, tracked_total, str(e)
            acked += 1
            sent += len(batch)
            tracked_total += tracked
            await acks.ack(recorder, acked, tracked, invalid)
        return sent, tracked_total, None

    # -- the end of the run --------------------------------------------------------------

    async def refresh(self) -> None:
        """Have Matomo re-archive the days that got hits (imported logs change past days)."""
        matomo = self.clients.matomo
        if not self.touched or matomo is None or not self.settings.trigger_archiving:
            return
        days = sorted(self.touched)
        try:
            await matomo.invalidate_reports(self.site.id_site, days)
        except MatomoError as e:
            log.warning("piwik.refresh.failed", site=self.site.name, days=len(days), error=str(e))
            for day in days:
                self.report(day).refresh_error = str(e)

    def finish(self, started: float) -> list[DayReport]:
        """The reports, by day (logged)."""
        reports = [self.reports[day] for day in sorted(self.reports)]
        log.info(
            "piwik.run.done",
            site=self.site.name,
            run_id=self.run_id,
            days=len(reports),
            files=len({f.key for r in reports for f in r.files}),
            hits=sum(r.count("hits") for r in reports),
            sent=sum(r.count("sent") for r in reports),
            refreshed=len(self.touched),
            seconds=round(time.monotonic() - started, 3),
            ok=all(r.ok for r in reports),
        )
        return reports


def _progress_bar(items: list, unit: str) -> tqdm:
    return tqdm(items, disable=None if len(items) > 1 else True, unit=unit, leave=False)


async def import_days(
    clients: Clients,
    settings: PiwikSettings,
    site: Site,
    days: list[date],
    *,
    dry_run: bool = False,
    force: bool = False,
) -> list[DayReport]:
    """Import the lines of ``days`` (in the site's timezone) from every file of the site
    on S3 that holds some, each file read once; a bad or unfinished file does not stop
    the others, nor the refresh of the days that got hits."""
    started = time.monotonic()
    run = _Run(clients, settings, site, dry_run, force)
    for day in days:
        run.report(day)
    try:
        objects = await list_site_objects(clients.s3, settings.pull_bucket, site)
        for obj in _progress_bar(objects, "file"):
            span, content = await run.span(obj)
            candidates = span.days(days) if span is not None else list(days)
            if not candidates:
                continue

            async def read(key: str = obj.key) -> bytes:
                return await download(clients.s3, settings.pull_bucket, key)

            await run.import_source(_Source(obj, read, archived=True), candidates, content)
    finally:  # whatever stopped the run, the days that got hits are refreshed
        await run.refresh()
    return run.finish(started)


async def import_day(
    clients: Clients,
    settings: PiwikSettings,
    site: Site,
    day: date,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> DayReport:
    """:func:`import_days` for one day."""
    [report] = await import_days(clients, settings, site, [day], dry_run=dry_run, force=force)
    return report


async def import_files(
    clients: Clients,
    settings: PiwikSettings,
    site: Site,
    paths: list[Path],
    *,
    dry_run: bool = False,
    force: bool = False,
) -> list[DayReport]:
    """Import local log files (plain, gzip, bzip2 or zip): every day their lines hold,
    with the same ledger, idempotence and web_hits as files on S3 (not archived)."""
    started = time.monotonic()
    run = _Run(clients, settings, site, dry_run, force)
    try:
        for path in _progress_bar(paths, "file"):
            obj = await local_object(path)

            async def read(key: str = obj.key) -> bytes:
                return await read_local(key)

            await run.import_source(_Source(obj, read, archived=False), None)
    finally:  # whatever stopped the run, the days that got hits are refreshed
        await run.refresh()
    return run.finish(started)
