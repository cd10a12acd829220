"""``forklift piwik`` commands and the burst worker, against moto, the warehouse and the
fake Matomo."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import io
import os
import signal
import sys
import zipfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.main import cli
from services.piwik.fake_matomo import FakeMatomo
from services.piwik.importer import Clients
from services.piwik.samples import combined_lines, w3c_lines
from services.piwik.settings import PiwikSettings
from services.piwik.worker import WorkerSettings, import_job_id
from shared.cli import run_cli
from shared.queues import connect_queue, enqueue
from shared.settings import CoreSettings
from shared.worker import build_worker
from tests.piwik.conftest import DAY_START, TOKEN, expected_identities, identity, put_log


@pytest.fixture
def piwik_env(
    cli_env: dict[str, str], settings: PiwikSettings, monkeypatch: pytest.MonkeyPatch
) -> PiwikSettings:
    env = {
        "FORKLIFT_PIWIK_SITES_FILE": str(settings.sites_file),
        "FORKLIFT_PIWIK_MATOMO_URL": settings.matomo_url or "",
        "FORKLIFT_PIWIK_MATOMO_TOKEN": TOKEN,
        "FORKLIFT_PIWIK_PULL_BUCKET": settings.pull_bucket,
        "FORKLIFT_PIWIK_PUSH_BUCKET": settings.push_bucket,
        "FORKLIFT_PIWIK_PARSE_PROCESSES": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["import", "nope.org", "2026-11-20"],
            "unknown site 'nope.org'; choose from: archive.example.net, nobots.example.com,"
            " shop.example.com, www.example.org",
        ),
        (
            ["backfill", "shop.example.com", "2026-11-20", "2026-11"],
            "malformed date '2026-11': expected YYYY-MM-DD, e.g. 2026-11-20",
        ),
        (
            ["stats", "shop.example.com", "2026-11-20", "2026-11-19"],
            "the range ends (2026-11-19) before it starts (2026-11-20)",
        ),
        (
            ["stats", "shop.example.com", "2026-11-20", "--csv", "/nonexistent/dir/out.csv"],
            "cannot write /nonexistent/dir/out.csv: no folder /nonexistent/dir",
        ),
        (
            ["import-file", "/nonexistent/access.log", "--idsite", "2"],
            "no such file: /nonexistent/access.log",
        ),
        (["import-file", "/tmp", "--idsite", "2"], "/tmp is a folder, not a log file"),
        (
            ["import-file", __file__, "--idsite", "2", "--format", "regex"],
            "the regex format needs a regex",
        ),
        (
            ["import-file", __file__, "--idsite", "2", "--timezone", "Mars/Base"],
            "--timezone: unknown timezone 'Mars/Base', e.g. Europe/Paris",
        ),
        (
            ["import-file", __file__, "--idsite", "9", "--site", "shop.example.com"],
            "site shop.example.com has idSite 2, not 9",
        ),
    ],
)
def test_bad_arguments_exit_2(
    piwik_env: PiwikSettings, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run_cli(cli, ["piwik", *args]) == 2
    assert capsys.readouterr().err == f"forklift: error: {message}\n"


async def test_import_dry_run_then_import_then_stats_csv(
    clients: Clients,
    piwik_env: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    lines = combined_lines(DAY_START, 6 * 3600, 300, seed=4)
    await put_log(clients.s3, piwik_env.pull_bucket, "shop/access.log.gz", lines)
    args = ["piwik", "import", "shop.example.com", "2026-11-20"]
    assert await asyncio.to_thread(run_cli, cli, [*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "shop.example.com 2026-11-20: 1 files, 300 lines, 300 hits, 0 bad lines, 0 skipped"
    )
    assert "shop/access.log.gz: dry-run" in out and matomo[0].hits == []
    assert await warehouse.fetchval("SELECT count(*) FROM piwik_ledger") == 0

    assert await asyncio.to_thread(run_cli, cli, args) == 0
    assert "300 sent" in capsys.readouterr().out and len(matomo[0].hits) == 300

    csv_path = tmp_path / "out.csv"
    stats = [
        "piwik",
        "stats",
        "shop.example.com",
        "2026-11-19",
        "2026-11-20",
        "--csv",
        str(csv_path),
    ]
    assert await asyncio.to_thread(run_cli, cli, stats) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "day",
        "files",
        "bytes",
        "avg_bytes",
        "lines",
        "hits",
        "bad_lines",
        "nb_visits",
        "nb_uniq_visitors",
        "nb_actions",
        "bounce_count",
        "sum_visit_length",
    ]
    csv_rows = [line.split(",") for line in csv_path.read_text().splitlines()]
    assert csv_rows[1][:2] == ["2026-11-19", "0"] and csv_rows[1][4:7] == ["0", "0", "0"]
    day = dict(zip(csv_rows[0], csv_rows[2], strict=True))
    size = await warehouse.fetchval("SELECT size_bytes FROM piwik_ledger")
    assert (day["day"], day["files"], day["bytes"], day["avg_bytes"]) == (
        "2026-11-20",
        "1",
        str(size),
        str(size),
    )
    assert (day["lines"], day["hits"], day["nb_actions"]) == ("300", "300", "300")
    assert 0 < int(day["nb_uniq_visitors"]) <= int(day["nb_visits"]) <= 300


async def test_burst_worker_runs_a_queued_import(
    clients: Clients,
    piwik_env: PiwikSettings,
    core: CoreSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    await put_log(
        clients.s3,
        piwik_env.pull_bucket,
        "shop/access.log",
        combined_lines(DAY_START, 3600, 120, seed=5),
    )
    queue = await connect_queue(core.redis_url or "")
    job_id = import_job_id("shop.example.com", "2026-11-20")
    await enqueue(queue, "piwik", "import_day", "shop.example.com", "2026-11-20", job_id=job_id)
    worker = build_worker(WorkerSettings, core, burst=True, max_tries=1)
    with capture_logs() as logs:
        await worker.main()
        await worker.close()
    await queue.aclose()
    assert worker.jobs_complete >= 2 and worker.jobs_failed == 0  # the job + the startup cron
    rows = await warehouse.fetch("SELECT day, status, hits FROM piwik_ledger ORDER BY day")
    assert [(str(r["day"]), r["status"]) for r in rows][0] == ("2026-11-20", "done")
    done = [e for e in logs if e["event"] == "job.done" and e["job"] == "import_day_job"]
    assert done[0]["job_id"] == job_id and done[0]["hits"] == 120
    assert rows[0]["hits"] == 120 and len(matomo[0].hits) == 120


async def test_kill_9_mid_import_then_resume_records_each_hit_once(
    clients: Clients,
    piwik_env: PiwikSettings,
    cli_env: dict[str, str],
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
) -> None:
    fake, _ = matomo
    lines = combined_lines(DAY_START, 6 * 3600, 900, seed=6)
    await put_log(clients.s3, piwik_env.pull_bucket, "shop/access.log.gz", lines)
    fake.hang_after = 3  # batches 4.. never answered: the process is killed waiting
    env = {
        **os.environ,
        "FORKLIFT_PIWIK_RECORDERS": "1",
        "FORKLIFT_PIWIK_BATCH_SIZE": "100",
        "FORKLIFT_PIWIK_TIMEOUT_S": "60",
    }
    argv = [sys.executable, "-m", "services", "piwik", "import", "shop.example.com", "2026-11-20"]
    child = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    query = "SELECT acked_batches FROM piwik_ledger WHERE status = 'running'"
    for _ in range(300):
        acked = await warehouse.fetchval(query)
        if acked == [3]:
            break
        await asyncio.sleep(0.1)
    assert acked == [3] and len(fake.hits) == 300
    child.send_signal(signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL

    fake.hang_after = None
    assert (
        await asyncio.to_thread(run_cli, cli, ["piwik", "import", "shop.example.com", "2026-11-20"])
        == 0
    )
    recorded = Counter(identity(h) for h in fake.hits)
    assert recorded == expected_identities(lines)  # none lost, none twice
    row = await warehouse.fetchrow("SELECT status, tracked, hits FROM piwik_ledger")
    assert (row["status"], row["tracked"], row["hits"]) == ("done", 900, 900)


def _packed(kind: str, lines: list[str]) -> bytes:
    data = "\n".join(lines).encode() + b"\n"
    if kind == "gz":
        return gzip.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "zip":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("access.log", data)
        return out.getvalue()
    return data


async def test_import_file_local_logs_once_each_with_stats_per_log_day(
    piwik_env: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    warehouse: asyncpg.Pool,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    fake, _ = matomo
    all_lines = []
    paths = []
    for n, kind in enumerate(("log", "gz", "bz2", "zip")):
        lines = combined_lines(DAY_START + timedelta(hours=20), 6 * 3600, 100, seed=20 + n)
        all_lines += lines
        path = tmp_path / f"access.{n}.{kind}"
        path.write_bytes(_packed(kind, lines))
        paths.append(str(path))
    args = ["piwik", "import-file", *paths, "--idsite", "2", "--format", "combined"]
    assert await asyncio.to_thread(run_cli, cli, args) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "shop.example.com 2026-11-20",
        "shop.example.com 2026-11-21",
    ]
    assert Counter(map(identity, fake.hits)) == expected_identities(all_lines)
    assert fake.invalidations == [("2", "2026-11-20,2026-11-21")]
    rows = await warehouse.fetch("SELECT s3_key, day, status FROM piwik_ledger ORDER BY 1, 2")
    assert {r["s3_key"] for r in rows} == set(paths) and {r["status"] for r in rows} == {"done"}
    assert await warehouse.fetchval("SELECT count(*) FROM web_hits") == 400

    assert await asyncio.to_thread(run_cli, cli, args) == 0  # again: each file skipped
    assert "skipped" in capsys.readouterr().out and len(fake.hits) == 400

    stats = ["piwik", "stats", "shop.example.com", "2026-11-20", "2026-11-21"]
    assert await asyncio.to_thread(run_cli, cli, stats) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines()]
    days = {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert int(days["2026-11-20"]["lines"]) + int(days["2026-11-21"]["lines"]) == 400
    assert days["2026-11-20"]["files"] == days["2026-11-21"]["files"] == "4"


async def test_import_file_for_a_site_not_in_the_sites_file_asks_matomo_its_url(
    piwik_env: PiwikSettings,
    matomo: tuple[FakeMatomo, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    fake, _ = matomo
    fake.main_urls["42"] = "https://blog.example.net"
    path = tmp_path / "u_ex261120.log"
    path.write_text("\n".join(w3c_lines(DAY_START, 3600, 20)) + "\n")
    args = ["piwik", "import-file", str(path), "--idsite", "42", "--no-bots", "--dry-run"]
    assert await asyncio.to_thread(run_cli, cli, args) == 0
    assert capsys.readouterr().out.startswith("idsite-42 2026-11-20: 1 files, 24 lines")
    args = ["piwik", "import-file", str(path), "--idsite", "42"]
    assert await asyncio.to_thread(run_cli, cli, args) == 0
    assert {h["url"].split("/")[2] for h in fake.hits} == {"blog.example.net"}
    assert {h["idsite"] for h in fake.hits} == {"42"} and len(fake.hits) == 20
