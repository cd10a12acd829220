"""End-to-end imports from S3 (moto) to the fake Matomo and the warehouse: the ledger per
log day, files picked by the days their lines hold (whenever uploaded), failed files
next to good ones, stats per log day, resume and its duplicate bound, faults."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import aiohttp
import asyncpg
from botocore.exceptions import ClientError

from services.piwik import importer, ledger
from services.piwik.fake_matomo import FakeMatomo
from services.piwik.importer import Clients, import_day, import_days
from services.piwik.ledger import FileKey
from services.piwik.samples import combined_lines, w3c_lines
from services.piwik.settings import PiwikSettings
from services.piwik.sites import Site, load_sites
from services.piwik.stats import collect_stats
from tests.piwik.conftest import DAY, DAY_START, expected_identities, identity, put_log


def _site(settings: PiwikSettings, name: str = "shop.example.com") -> Site:
    return load_sites(settings.sites_file)[name]


async def _seed_shop(clients: Clients, settings: PiwikSettings, count: int = 400) -> list[str]:
    # 40 lines of the day before (3 hours before it), then the day's.
    before = combined_lines(DAY_START - timedelta(hours=3), 3600, 40, seed=9)
    lines = combined_lines(DAY_START, 20 * 3600, count, seed=2)
    await put_log(clients.s3, settings.pull_bucket, "shop/access.log.gz", before + lines)
    await put_log(clients.s3, settings.pull_bucket, "shop/error.log", ["not for us"])
    return lines


async def test_import_sends_loads_archives_and_rerun_skips(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    fake, _ = matomo
    lines = await _seed_shop(clients, settings)
    site = _site(settings)
    report = await import_day(clients, settings, site, DAY)
    assert report.ok and [f.key for f in report.files] == ["shop/access.log.gz"]
    [file] = report.files
    # only the day's lines count on the day; the 40 of the 19th are not sent
    assert (file.status, file.lines, file.hits, file.sent, file.tracked) == (
        "done",
        400,
        400,
        400,
        400,
    )
    assert len(fake.hits) == 400 and {h["idsite"] for h in fake.hits} == {"2"}
    assert Counter(map(identity, fake.hits)) == expected_identities(lines)
    assert fake.invalidations == [("2", "2026-11-20")]
    rows = await warehouse.fetch("SELECT * FROM piwik_ledger")
    assert [(r["day"], r["status"], r["lines"], r["hits"], r["tracked"]) for r in rows] == [
        (DAY, "done", 400, 400, 400)
    ]
    assert rows[0]["archive_key"] == "mtclog/shop.example.com/2026/11/20/access.log.gz"
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == 400
    archived = await clients.s3.get_object(Bucket=settings.push_bucket, Key=rows[0]["archive_key"])
    body = gzip.decompress(await archived["Body"].read()).decode().splitlines()
    assert body[40:] == lines and len(body) == 440

    again = await import_day(clients, settings, site, DAY)
    assert [f.status for f in again.files] == ["skipped"] and len(fake.hits) == 400
    forced = await import_day(clients, settings, site, DAY, force=True)
    assert [f.status for f in forced.files] == ["done"] and len(fake.hits) == 800
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == 400

    previous = await import_day(clients, settings, site, DAY - timedelta(days=1))
    assert [(f.status, f.lines, f.hits) for f in previous.files] == [("done", 40, 40)]
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == 440


async def test_backfill_reads_a_file_once_for_all_its_days(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    fake, _ = matomo
    await _seed_shop(clients, settings)
    reports = await import_days(
        clients, settings, _site(settings), [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
    )
    assert [(r.day, [(f.status, f.hits) for f in r.files]) for r in reports] == [
        (DAY - timedelta(days=1), [("done", 40)]),
        (DAY, [("done", 400)]),
        (DAY + timedelta(days=1), []),
    ]
    assert len(fake.hits) == 440
    assert fake.invalidations == [("2", "2026-11-19,2026-11-20")]  # one call, the days with hits
    index = await warehouse.fetchrow("SELECT * FROM piwik_file_days WHERE s3_key LIKE '%gz'")
    assert (index["first_day"], index["last_day"], index["exact"]) == (
        DAY - timedelta(days=1),
        DAY,
        True,
    )


async def test_backfill_of_archived_logs_uploaded_today(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    """Last year's logs uploaded now are imported by the days their lines hold: by the
    date in the key (archive site) or by a probe of the first and last lines (shop)."""
    fake, _ = matomo
    old = date(2025, 3, 1)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    bucket = settings.pull_bucket
    for n in range(3):  # u_ex250301.log .. u_ex250303.log, gzip'd W3C
        day_start = start + timedelta(days=n)
        await put_log(
            clients.s3,
            bucket,
            f"archive/u_ex{day_start:%y%m%d}.log.gz",
            w3c_lines(day_start, 3600, 50, seed=n),
        )
    await put_log(
        clients.s3,
        bucket,
        "shop/access.log-20250302",
        combined_lines(start + timedelta(days=1), 3600, 30),
    )
    await put_log(
        clients.s3,
        bucket,
        "shop/access.log-20250303.gz",
        combined_lines(start + timedelta(days=2), 3600, 20),
    )

    archive = await import_days(
        clients, settings, _site(settings, "archive.example.net"), [old, old + timedelta(days=1)]
    )
    assert [[(f.key, f.status, f.hits) for f in r.files] for r in archive] == [
        [("archive/u_ex250301.log.gz", "done", 50)],
        [("archive/u_ex250302.log.gz", "done", 50)],
    ]
    shop = await import_days(clients, settings, _site(settings), [old + timedelta(days=1)])
    assert [(f.key, f.status, f.hits) for f in shop[0].files] == [
        ("shop/access.log-20250302", "done", 30)
    ]
    assert len(fake.hits) == 130
    # probed once: the index knows both shop files' days, so the next run reads neither
    spans = await warehouse.fetch(
        "SELECT s3_key, first_day, last_day FROM piwik_file_days WHERE site = 'shop.example.com' ORDER BY s3_key"
    )
    assert [(r["s3_key"], r["first_day"], r["last_day"]) for r in spans] == [
        ("shop/access.log-20250302", date(2025, 3, 2), date(2025, 3, 2)),
        ("shop/access.log-20250303.gz", date(2025, 3, 3), date(2025, 3, 3)),
    ]
    nothing = await import_day(clients, settings, _site(settings), old)
    assert nothing.files == [] and nothing.ok and len(fake.hits) == 130


async def test_failed_files_keep_counts_and_samples_and_the_day_is_still_refreshed(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    bucket = settings.pull_bucket
    good = w3c_lines(DAY_START, 3600, 30)
    await put_log(clients.s3, bucket, "www/a-good.log", good)
    await put_log(clients.s3, bucket, "www/b-truncated.log.gz", gzip.compress(b"x" * 5000)[:30])
    await put_log(clients.s3, bucket, "www/c-binary.log", b"\x7fELF\x00\x00\x01" * 10)
    await put_log(clients.s3, bucket, "www/d-nginx.log", ['{"remote_addr": "1"}'] * 3)
    site = _site(settings, "www.example.org")
    report = await import_day(clients, settings, site, DAY)
    assert not report.ok
    assert [(f.key, f.status) for f in report.files] == [
        ("www/a-good.log", "done"),
        ("www/b-truncated.log.gz", "failed"),
        ("www/c-binary.log", "failed"),
        ("www/d-nginx.log", "failed"),
    ]
    rows = await warehouse.fetch(
        "SELECT s3_key, status, error, lines, bad_lines, bad_samples FROM piwik_ledger ORDER BY s3_key"
    )
    assert [(r["s3_key"], r["status"]) for r in rows] == [(f.key, f.status) for f in report.files]
    assert "cannot unpack" in rows[1]["error"] and "binary" in rows[2]["error"]
    nginx = rows[3]
    assert "no line is in the w3c format (read as w3c_extended)" in nginx["error"]
    assert (nginx["lines"], nginx["bad_lines"], nginx["bad_samples"]) == (
        3,
        3,
        ['1: {"remote_addr": "1"}', '2: {"remote_addr": "1"}', '3: {"remote_addr": "1"}'],
    )
    # the good file's hits were sent: the day's reports are refreshed all the same
    assert len(matomo[0].hits) == 30 and matomo[0].invalidations == [("1", "2026-11-20")]
    assert "www/d-nginx.log: failed www/d-nginx.log: no line is in the w3c format" in report.line()
    assert "www/a-good.log: done" in report.line()


async def test_stats_count_each_file_on_the_days_its_lines_belong_to(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
) -> None:
    """A file of the 28th's lines uploaded on the 29th shows on the 28th only; a file
    spanning midnight shows on both days, with its bytes and lines split."""
    bucket = settings.pull_bucket
    day28 = datetime(2026, 11, 28, tzinfo=UTC)
    only28 = combined_lines(day28 + timedelta(hours=10), 3600, 100, seed=1)
    span = combined_lines(day28 + timedelta(hours=23), 2 * 3600, 200, seed=2)
    await put_log(clients.s3, bucket, "shop/access.log-28", only28)
    await put_log(clients.s3, bucket, "shop/access.log-29", span)
    site = _site(settings)
    reports = await import_days(
        clients, settings, site, [day28.date(), day28.date() + timedelta(days=1)]
    )
    assert all(r.ok for r in reports)
    rows = await collect_stats(clients, site, day28.date(), day28.date() + timedelta(days=2))
    by_day = {r["day"]: r for r in rows}
    first, second = by_day[day28.date()], by_day[day28.date() + timedelta(days=1)]
    span_on_28 = sum(1 for line in span if "28/Nov/2026" in line)
    assert (first["files"], first["lines"], second["files"], second["lines"]) == (
        2,
        100 + span_on_28,
        1,
        200 - span_on_28,
    )
    size28 = (await clients.s3.head_object(Bucket=bucket, Key="shop/access.log-28"))[
        "ContentLength"
    ]
    size29 = (await clients.s3.head_object(Bucket=bucket, Key="shop/access.log-29"))[
        "ContentLength"
    ]
    assert first["bytes"] + second["bytes"] == size28 + size29
    assert by_day[day28.date() + timedelta(days=2)]["files"] == 0
    assert first["nb_actions"] + second["nb_actions"] == 300  # Matomo's figures


async def test_bots_off_drops_their_hits_and_counts_them(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    lines = combined_lines(DAY_START, 3600, 300, seed=8)
    await put_log(clients.s3, settings.pull_bucket, "nobots/access.log", lines)
    report = await import_day(clients, settings, _site(settings, "nobots.example.com"), DAY)
    agents = [line.rsplit('"', 2)[-2] for line in lines]
    bots = sum(
        1 for a in agents if any(m in a for m in ("Googlebot", "Feedfetcher", "YandexBot", "curl/"))
    )
    assert 0 < bots < 300
    [file] = report.files
    assert (file.hits, file.skipped, file.sent) == (300 - bots, bots, 300 - bots)
    assert all("bots" not in hit and "_cvar" not in hit for hit in matomo[0].hits)
    row = await warehouse.fetchrow("SELECT hits, skipped_bots, skipped_static FROM piwik_ledger")
    assert (row["hits"], row["skipped_bots"], row["skipped_static"]) == (300 - bots, bots, 0)


async def test_matomo_down_leaves_the_file_resumable_and_the_resume_names_possible_duplicates(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    fake, _ = matomo
    lines = await _seed_shop(clients, settings, count=1000)
    site = _site(settings)
    fake.fail_after = 4  # Matomo stops answering after 4 batches
    report = await import_day(clients, settings, site, DAY)
    [file] = report.files
    assert file.status == "partial" and "HTTP 500 after 2 attempts" in file.error
    row = await warehouse.fetchrow("SELECT status, acked_batches, tracked FROM piwik_ledger")
    assert row["status"] == "partial" and sum(row["acked_batches"]) == 4
    assert row["tracked"] == len(fake.hits) == 200
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == 0
    assert fake.invalidations == [("2", "2026-11-20")]  # 200 hits are in Matomo

    fake.fail_after = None
    settings_now = settings.model_copy(update={"recorders": 5, "batch_size": 7})  # ignored
    resumed = await import_day(clients, settings_now, site, DAY)
    [file] = resumed.files
    assert file.status == "done" and file.sent == len(lines) - 200
    # one batch per recorder that still had work may have reached Matomo before the stop
    assert 0 < file.duplicates <= settings.recorders * settings.batch_size
    assert f"up to {file.duplicates} hits of it may be recorded twice" in resumed.line()
    assert Counter(map(identity, fake.hits)) == expected_identities(lines)  # each hit once


async def test_retries_ride_out_500s_and_visitor_order_holds(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
) -> None:
    fake, url = matomo
    await _seed_shop(clients, settings, count=600)
    fake.fail_next = 1  # one 500, retried
    report = await import_day(clients, settings, _site(settings), DAY)
    assert report.ok and fake.fail_next == 0
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_fake/count") as answer:
        assert await answer.json() == {"hits": 600, "bulk_requests": fake.bulk_requests}
    per_visitor: dict[tuple[str, str], list[str]] = defaultdict(list)
    for hit in fake.hits:
        per_visitor[(hit["cip"], hit["ua"])].append(hit["cdt"])
    assert len(per_visitor) > 10
    assert all(times == sorted(times) for times in per_visitor.values())


async def test_dry_run_writes_nothing(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    await _seed_shop(clients, settings)
    report = await import_day(clients, settings, _site(settings), DAY, dry_run=True)
    assert [(f.status, f.hits) for f in report.files] == [("dry-run", 400)]
    assert matomo[0].hits == [] and matomo[0].bulk_requests == 0 and matomo[0].invalidations == []
    for table in ("piwik_ledger", "web_hits", "piwik_file_days"):
        assert await warehouse.fetchval(f"SELECT count(*) FROM {table}") == 0
    listed = await clients.s3.list_objects_v2(Bucket=settings.push_bucket)
    assert listed.get("KeyCount", 0) == 0


async def test_a_file_another_run_is_importing_is_reported_busy_then_imported(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    fake, _ = matomo
    lines = await _seed_shop(clients, settings)
    site = _site(settings)
    name = f"piwik:{site.name}:shop/access.log.gz"
    async with warehouse.acquire() as other_run:
        assert await other_run.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name)
        report = await import_day(clients, settings, site, DAY)
        await other_run.execute("SELECT pg_advisory_unlock(hashtext($1))", name)
    assert not report.ok
    assert [(f.status, f.sent) for f in report.files] == [("busy", 0)]
    assert fake.hits == []
    report = await import_day(clients, settings, site, DAY)
    assert report.ok and [f.status for f in report.files] == ["done"]
    assert len(fake.hits) == len(lines)


async def test_a_file_gone_since_the_listing_fails_alone(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
    monkeypatch,
) -> None:
    bucket = settings.pull_bucket
    await put_log(clients.s3, bucket, "shop/access.log-a", combined_lines(DAY_START, 3600, 30))
    await put_log(clients.s3, bucket, "shop/access.log-b", combined_lines(DAY_START, 3600, 20))
    gone = ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
    for name in ("download", "download_range"):
        real = getattr(importer, name)

        async def flaky(s3, bucket_name: str, key: str, *more, real=real) -> bytes:
            if key.endswith("-b"):
                raise gone
            return await real(s3, bucket_name, key, *more)

        monkeypatch.setattr(importer, name, flaky)
    report = await import_day(clients, settings, _site(settings), DAY)
    assert [(f.key, f.status) for f in report.files] == [
        ("shop/access.log-a", "done"),
        ("shop/access.log-b", "failed"),
    ]
    assert "shop/access.log-b: cannot read" in report.files[1].error
    assert len(matomo[0].hits) == 30 and matomo[0].invalidations == [("2", "2026-11-20")]


class _CountingPool:
    """A pool whose ``execute`` calls are counted (and can be made to fail)."""

    def __init__(self, pool: asyncpg.Pool, error: Exception | None = None) -> None:
        self.pool, self.error, self.executes = pool, error, 0

    async def execute(self, *args: object) -> str:
        self.executes += 1
        if self.error is not None:
            raise self.error
        return await self.pool.execute(*args)


async def test_acknowledgements_that_come_together_are_written_in_one_update(
    warehouse: asyncpg.Pool,
) -> None:
    key = FileKey("shop.example.com", DAY, "shop/access.log.gz", "etag")
    await ledger.start_file(warehouse, key, "run", 4, 10, 100)
    counting = _CountingPool(warehouse)
    acks = ledger.Acks(counting, key, [0, 0, 0, 0])  # type: ignore[arg-type]
    await asyncio.gather(*(acks.ack(r, 1, 10, r) for r in range(4)))
    await acks.ack(2, 2, 5, 0)
    row = await warehouse.fetchrow("SELECT acked_batches, tracked, invalid FROM piwik_ledger")
    assert (row["acked_batches"], row["tracked"], row["invalid"]) == ([1, 1, 2, 1], 45, 6)
    assert counting.executes == 2  # the four that came together, then the fifth

    failing = ledger.Acks(_CountingPool(warehouse, OSError("down")), key, [1, 1, 2, 1])  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(failing.ack(r, 3, 1, 0) for r in range(2)), return_exceptions=True
    )
    assert [type(r) for r in results] == [OSError, OSError]  # each recorder is told
