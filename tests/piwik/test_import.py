"""End-to-end imports: S3 (moto) -> fake Matomo + warehouse, ledger, resume, faults."""

from __future__ import annotations

import gzip
from collections import Counter, defaultdict
from datetime import timedelta

import asyncpg

from services.piwik.fake_matomo import FakeMatomo
from services.piwik.importer import Clients, import_day
from services.piwik.samples import combined_lines, w3c_lines
from services.piwik.settings import PiwikSettings
from services.piwik.sites import Site, load_sites
from tests.piwik.conftest import DAY, DAY_START, expected_identities, identity, put_log


def _shop(settings: PiwikSettings) -> Site:
    return load_sites(settings.sites_file)["shop.example.com"]


async def _seed_shop(clients: Clients, settings: PiwikSettings, count: int = 400) -> list[str]:
    # 3 hours before the day (excluded) and the day itself.
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
    site = _shop(settings)
    in_day = len(lines)  # the 40 lines before the day are not this day's
    report = await import_day(clients, settings, site, DAY)
    assert report.ok and [f.key for f in report.files] == ["shop/access.log.gz"]
    [file] = report.files
    assert (file.status, file.lines, file.hits, file.sent) == (
        "done",
        len(lines) + 40,
        in_day,
        in_day,
    )
    assert len(fake.hits) == in_day and len(set(map(identity, fake.hits))) <= in_day
    assert {h["idsite"] for h in fake.hits} == {"2"}
    assert fake.invalidations == [("2", "2026-11-20")]
    row = await warehouse.fetchrow("SELECT * FROM piwik_ledger")
    assert (row["status"], row["hits"], row["tracked"], row["invalid"]) == (
        "done",
        in_day,
        in_day,
        0,
    )
    assert row["archive_key"] == "mtclog/shop.example.com/2026/11/20/access.log.gz"
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == in_day
    archived = await clients.s3.get_object(Bucket=settings.push_bucket, Key=row["archive_key"])
    body = gzip.decompress(await archived["Body"].read()).decode().splitlines()
    assert body == combined_lines(DAY_START - timedelta(hours=3), 3600, 40, seed=9) + lines

    again = await import_day(clients, settings, site, DAY)
    assert [f.status for f in again.files] == ["skipped"] and len(fake.hits) == in_day
    forced = await import_day(clients, settings, site, DAY, force=True)
    assert [f.status for f in forced.files] == ["done"] and len(fake.hits) == 2 * in_day
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == in_day


async def test_matomo_down_leaves_file_resumable_then_each_hit_once(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    fake, _ = matomo
    lines = await _seed_shop(clients, settings, count=1000)
    site = _shop(settings)
    fake.fail_after = 4  # the "crash": Matomo stops answering after 4 batches
    report = await import_day(clients, settings, site, DAY)
    [file] = report.files
    assert file.status == "partial" and "HTTP 500 after 2 attempts" in file.error
    row = await warehouse.fetchrow("SELECT status, acked_batches, tracked FROM piwik_ledger")
    assert row["status"] == "partial" and sum(row["acked_batches"]) == 4
    assert row["tracked"] == len(fake.hits) == 200
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == 0
    assert fake.invalidations == []

    fake.fail_after = None
    settings_now = settings.model_copy(update={"recorders": 5, "batch_size": 7})  # ignored
    resumed = await import_day(clients, settings_now, site, DAY)
    assert [f.status for f in resumed.files] == ["done"]
    assert resumed.files[0].sent == len(lines) - 200
    assert Counter(map(identity, fake.hits)) == expected_identities(lines)  # each hit once


async def test_retries_ride_out_500s_and_visitor_order_holds(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
) -> None:
    fake, _ = matomo
    await _seed_shop(clients, settings, count=600)
    site = _shop(settings)
    fake.fail_next = 1  # one 500, retried
    report = await import_day(clients, settings, site, DAY)
    assert report.ok and fake.fail_next == 0
    per_visitor: dict[tuple[str, str], list[str]] = defaultdict(list)
    for hit in fake.hits:
        per_visitor[(hit["cip"], hit["ua"])].append(hit["cdt"])
    assert len(per_visitor) > 10
    assert all(times == sorted(times) for times in per_visitor.values())


async def test_bad_files_fail_alone(
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
    site = load_sites(settings.sites_file)["www.example.org"]
    report = await import_day(clients, settings, site, DAY)
    assert not report.ok
    rows = await warehouse.fetch("SELECT s3_key, status, error FROM piwik_ledger ORDER BY s3_key")
    assert [(r["s3_key"], r["status"]) for r in rows] == [
        ("www/a-good.log", "done"),
        ("www/b-truncated.log.gz", "failed"),
        ("www/c-binary.log", "failed"),
        ("www/d-nginx.log", "failed"),
    ]
    assert "cannot unpack" in rows[1]["error"] and "binary" in rows[2]["error"]
    assert "no line is in the w3c format" in rows[3]["error"]
    assert len(matomo[0].hits) == 30 and matomo[0].invalidations == []


async def test_dry_run_writes_nothing(
    clients: Clients,
    settings: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    await _seed_shop(clients, settings)
    site = _shop(settings)
    report = await import_day(clients, settings, site, DAY, dry_run=True)
    assert [f.status for f in report.files] == ["dry-run"] and report.files[0].hits > 300
    assert matomo[0].hits == [] and matomo[0].bulk_requests == 0
    assert await warehouse.fetchval("SELECT count(*) FROM piwik_ledger") == 0
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == 0
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
    site = _shop(settings)
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
