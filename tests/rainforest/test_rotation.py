"""Rotation against moto: a stopped user's closed hour is uploaded, verified, then deleted;
late lines and a user that moved mid-hour end in one object per hour; torn lines are skipped;
S3 down (from the start or in the middle of a run) stops the run at once and keeps the files,
as one line, in the CLI and in the worker (which starts without S3); runs never overlap."""

import asyncio
import gzip
import json
import logging
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from structlog.testing import capture_logs

from services.main import cli
from services.rainforest.logfiles import LogWriter
from services.rainforest.poller import running_poller
from services.rainforest.rotation import (
    closed_hour_files,
    ensure_bucket,
    read_readings,
    rotate,
    rotation_lock,
)
from services.rainforest.settings import RainforestSettings
from services.rainforest.simulator import device_credentials
from services.rainforest.users import UserStore
from services.rainforest.worker import WorkerSettings
from shared.aws import AwsConfig, aws_client
from shared.cli import run_cli
from shared.embedded import free_port
from shared.heartbeat import read_service_status
from shared.queues import connect_queue, enqueue
from shared.settings import CoreSettings
from shared.worker import build_worker

HOUR = datetime(2026, 11, 23, 7, tzinfo=UTC)
NOW = HOUR + timedelta(hours=1, minutes=5)
KEY = "rainforest-logs/000042/2026/11/23/iseif-rainforest-000042-2026-11-23-07.jl.gz"


@pytest.fixture
def bucket() -> str:
    """A fresh bucket per test (the moto server lives for the whole session)."""
    return f"rf-{uuid.uuid4().hex[:12]}"


def line(cloud_id: str, at: datetime) -> str:
    stamp = at.isoformat(timespec="seconds")
    return json.dumps({"cloud_id": cloud_id, "eagle_time": stamp, "received_at": stamp})


def write_log(root: Path, cloud_id: str, hour: str, text: str) -> Path:
    path = root / hour / f"iseif-rainforest-{cloud_id}-{hour}.jl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def object_lines(s3, bucket: str, key: str) -> list[str]:
    body = await (await s3.get_object(Bucket=bucket, Key=key))["Body"].read()
    return gzip.decompress(body).decode().splitlines()


def jl_files(root: Path) -> list[Path]:
    return list(root.rglob("*.jl"))


class Proxy:
    """A TCP relay to moto that a test can cut: an S3 outage with real connection errors."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()


def down_config(**changes) -> AwsConfig:
    return AwsConfig(
        region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}", access_key_id="x",
        secret_access_key="x", timeout_s=2, max_attempts=4,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("hour", "grace_s", "closed"),
    [("2026-11-23-07", 60, True), ("2026-11-23-08", 0, False), ("2026-11-23-07", 600, False)],
)
def test_closed_hour_files(tmp_path: Path, hour: str, grace_s: float, closed: bool) -> None:
    write_log(tmp_path, "000042", hour, "{}\n")
    (tmp_path / hour / "notes.txt").write_text("ignored")
    assert bool(closed_hour_files(tmp_path, NOW, grace_s)) is closed


def test_torn_lines_are_skipped_and_readings_kept() -> None:
    first, second = line("1", HOUR), line("1", HOUR + timedelta(seconds=6))
    data = f'{first}\n{{"cloud_id": "1", "eagle_ti\n{second}\n[1, 2]\n\n'.encode()
    assert read_readings(data) == ([first, second], 2)


async def test_stopped_users_hour_uploaded_verified_then_deleted_late_lines_merged(
    aws: AwsConfig, tmp_path: Path, bucket: str
) -> None:
    early, late = line("000042", HOUR), line("000042", HOUR + timedelta(minutes=30))
    path = write_log(tmp_path, "000042", "2026-11-23-07", late + "\n")
    current = write_log(tmp_path, "000042", "2026-11-23-08", "{}\n")
    async with aws_client(aws, "s3") as s3:
        with capture_logs() as logs:
            result = await rotate(s3, bucket, tmp_path, NOW, 60)  # creates the bucket
        assert result.uploaded == [KEY] and not result.failed and result.error is None
        assert await object_lines(s3, bucket, KEY) == [late]
        assert not path.exists() and not path.parent.exists() and current.exists()
        assert [e["key"] for e in logs if e["event"] == "rainforest.rotate.uploaded"] == [KEY]

        # more lines of that hour (another poller's part, late lines): one object, in order
        path = write_log(tmp_path, "000042", "2026-11-23-07", f"{early}\n{late}\n")
        assert (await rotate(s3, bucket, tmp_path, NOW, 60)).uploaded == [KEY]
        assert await object_lines(s3, bucket, KEY) == [early, late]
        listing = await s3.list_objects_v2(Bucket=bucket)
        assert [o["Key"] for o in listing["Contents"]] == [KEY]

        # a re-run after a crash between upload and delete: nothing new, the file goes
        path = write_log(tmp_path, "000042", "2026-11-23-07", early + "\n")
        assert (await rotate(s3, bucket, tmp_path, NOW, 60)).uploaded == [KEY]
        assert not path.exists() and await object_lines(s3, bucket, KEY) == [early, late]


async def test_an_object_that_is_not_gzip_text_is_never_overwritten(
    aws: AwsConfig, tmp_path: Path, bucket: str
) -> None:
    write_log(tmp_path, "000042", "2026-11-23-07", line("000042", HOUR) + "\n")
    async with aws_client(aws, "s3") as s3:
        await ensure_bucket(s3, bucket)
        await s3.put_object(Bucket=bucket, Key=KEY, Body=b"not gzip")
        result = await rotate(s3, bucket, tmp_path, NOW, 60)
        assert result.uploaded == [KEY + ".1"]
        kept = await (await s3.get_object(Bucket=bucket, Key=KEY))["Body"].read()
        assert kept == b"not gzip"


async def test_torn_line_does_not_swallow_the_next_reading(
    aws: AwsConfig, tmp_path: Path, bucket: str
) -> None:
    writer = LogWriter(tmp_path)
    first, second = line("000042", HOUR), line("000042", HOUR + timedelta(seconds=6))
    path = write_log(tmp_path, "000042", "2026-11-23-07", first + "\n" + first[:25])  # by hand
    await writer.write([("2026-11-23-07/iseif-rainforest-000042-2026-11-23-07.jl", second)])
    assert path.read_text().splitlines() == [first, first[:25], second]
    async with aws_client(aws, "s3") as s3:
        result = await rotate(s3, bucket, tmp_path, NOW, 60)
        assert result.uploaded == [KEY] and result.torn_lines == 1
        assert await object_lines(s3, bucket, KEY) == [first, second]


async def test_user_moved_mid_hour_ends_in_one_object_per_hour(
    aws: AwsConfig,
    simulator: TestServer,
    settings: RainforestSettings,
    rf_redis: Redis,
    tmp_path: Path,
    bucket: str,
) -> None:
    """Two pollers on two machines (two log folders): the users that move when the second
    joins have part of the hour in each folder; each folder's rotation adds its part to the
    same object."""
    settings = settings.model_copy(
        update={"poll_period_s": 1.0, "heartbeat_interval_s": 0.5, "heartbeat_timeout_s": 2.5}
    )
    store = UserStore(rf_redis, settings.fernet())
    users = [device_credentials(i) for i in range(40)]
    for cloud_id, user, secret in users:
        await store.upsert(cloud_id, {"user_email": user, "user_pw": secret})
    core = CoreSettings(_env_file=None)
    folders = {name: tmp_path / name for name in ("a", "b")}
    async with aiohttp.ClientSession() as session:
        async with running_poller(
            core, settings, store, session, writer=LogWriter(folders["a"]), member="a"
        ):
            await asyncio.sleep(3)
            async with running_poller(
                core, settings, store, session, writer=LogWriter(folders["b"]), member="b"
            ):
                await asyncio.sleep(4)
    written = defaultdict(list)  # (cloud_id, hour file) -> lines, from both folders
    for name, folder in folders.items():
        for path in folder.rglob("*.jl"):
            written[path.name] += [(name, text) for text in path.read_text().splitlines()]
    moved = [name for name, parts in written.items() if {p for p, _ in parts} == {"a", "b"}]
    assert moved, "some users changed poller within an hour file"
    later = datetime.now(UTC) + timedelta(hours=2)
    async with aws_client(aws, "s3") as s3:
        for folder in folders.values():
            result = await rotate(s3, bucket, folder, later, 60)
            assert not result.failed and result.error is None
        keys = [o["Key"] for o in (await s3.list_objects_v2(Bucket=bucket))["Contents"]]
        assert len(keys) == len(written) and not [k for k in keys if not k.endswith(".jl.gz")]
        for key in keys:
            name = key.rsplit("/", 1)[1].removesuffix(".gz")
            expected = sorted(
                {text for _, text in written[name]},
                key=lambda t: (json.loads(t)["received_at"], t),
            )
            assert await object_lines(s3, bucket, key) == expected  # complete, once, in order
    assert not jl_files(tmp_path)


async def test_s3_down_at_the_start_stops_the_run_at_once(
    aws: AwsConfig, tmp_path: Path, bucket: str
) -> None:
    paths = [write_log(tmp_path, f"{i:06d}", "2026-11-23-07", "{}\n") for i in range(17)]
    started = time.monotonic()
    async with aws_client(down_config(), "s3") as s3:
        result = await rotate(s3, bucket, tmp_path, NOW, 60)
    assert time.monotonic() - started < 15  # one probe's retries, not ~8 s per file
    assert result.error and result.error.startswith("S3 unavailable: EndpointConnectionError")
    assert result.kept == 17 and not result.failed and not result.uploaded
    assert all(p.exists() for p in paths)
    async with aws_client(aws, "s3") as s3:
        result = await rotate(s3, bucket, tmp_path, NOW, 60)
    assert len(result.uploaded) == 17 and not any(p.exists() for p in paths)


async def test_s3_going_down_in_the_middle_keeps_the_rest(
    aws: AwsConfig, tmp_path: Path, bucket: str
) -> None:
    proxy = Proxy(aws.endpoint_url or "")
    endpoint = await proxy.start()
    via_proxy = AwsConfig(**{**aws.__dict__, "endpoint_url": endpoint, "max_attempts": 2})
    for i in range(6):
        write_log(tmp_path, f"{i:06d}", "2026-11-23-07", line(f"{i:06d}", HOUR) + "\n")
    async with aws_client(via_proxy, "s3") as s3:
        await ensure_bucket(s3, bucket)
        put = s3.put_object
        puts = 0

        async def put_then_cut(**kwargs):  # the real upload; the outage starts after the 2nd
            nonlocal puts
            response = await put(**kwargs)
            puts += 1
            if puts == 2:
                proxy.cut()
            return response

        s3.put_object = put_then_cut
        result = await rotate(s3, bucket, tmp_path, NOW, 60)
    assert len(result.uploaded) == 1  # the second was uploaded but its ETag check failed
    assert result.error and result.kept == 5 and not result.failed
    assert len(jl_files(tmp_path)) == 5  # nothing deleted without a verified upload


def rotate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bucket: str) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv("FORKLIFT_RAINFOREST_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("FORKLIFT_RAINFOREST_S3_BUCKET", bucket)
    monkeypatch.setenv("FORKLIFT_RAINFOREST_ENCRYPTION_KEY", Fernet.generate_key().decode())


def test_cli_rotate_and_users(
    cli_env: dict,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    rotate_env(monkeypatch, tmp_path, bucket)
    write_log(tmp_path, "000042", "2020-01-01-00", '{"a": 1}\n')
    assert run_cli(cli, ["rainforest", "rotate"]) == 0
    out = capsys.readouterr().out
    assert (
        "uploaded rainforest-logs/000042/2020/01/01/iseif-rainforest-000042-2020-01-01-00.jl.gz"
        in out
    )
    assert "1 uploaded, 0 failed" in out
    assert run_cli(cli, ["rainforest", "users"]) == 0
    assert "0 users" in capsys.readouterr().out
    monkeypatch.setenv("FORKLIFT_RAINFOREST_ENCRYPTION_KEY", "short")
    assert run_cli(cli, ["rainforest", "users"]) == 2
    assert "FORKLIFT_RAINFOREST_ENCRYPTION_KEY" in capsys.readouterr().err


def test_cli_rotate_with_s3_down_is_one_line(
    cli_env: dict,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    rotate_env(monkeypatch, tmp_path, bucket)
    monkeypatch.setenv("FORKLIFT_AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    for i in range(3):
        write_log(tmp_path, f"{i:06d}", "2020-01-01-00", '{"a": 1}\n')
    assert run_cli(cli, ["rainforest", "rotate"]) == 1
    captured = capsys.readouterr()
    [error] = captured.err.splitlines()
    assert error.startswith("forklift: error: S3 unavailable: EndpointConnectionError")
    assert error.endswith("; 3 files kept for the next run")
    assert "0 uploaded, 0 failed" in captured.out
    assert len(jl_files(tmp_path)) == 3


async def test_rotation_runs_never_overlap(
    cli_env: dict,
    redis: Redis,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    rotate_env(monkeypatch, tmp_path, bucket)
    path = write_log(tmp_path, "000042", "2020-01-01-00", '{"a": 1}\n')
    async with rotation_lock(redis):
        with pytest.raises(Exception, match="another rotation is running"):
            async with rotation_lock(redis):
                pass
        code = await asyncio.to_thread(run_cli, cli, ["rainforest", "rotate"])
        assert code == 1 and "another rotation is running" in capsys.readouterr().err
        assert path.exists()
    assert await asyncio.to_thread(run_cli, cli, ["rainforest", "rotate"]) == 0
    assert not path.exists()


async def test_worker_starts_without_s3_and_reports_one_line_per_run(
    core: CoreSettings,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("FORKLIFT_RAINFOREST_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("FORKLIFT_RAINFOREST_S3_BUCKET", bucket)
    monkeypatch.setenv("FORKLIFT_RAINFOREST_ROTATE_RETRY_S", "0.2")
    path = write_log(tmp_path, "000042", "2020-01-01-00", '{"a": 1}\n')
    down = core.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    queue = await connect_queue(down.redis_url)
    await enqueue(queue, "rainforest", "rotate_logs", job_id="rotate:down")
    worker = build_worker(WorkerSettings, down, burst=True)
    with capture_logs() as logs, caplog.at_level(logging.INFO):
        await worker.main()  # starts: S3 is not needed to start
        await worker.close()
    await queue.aclose()
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["rainforest.rotate.s3_unavailable"] * 3  # 3 tries
    assert all(e["kept"] == 1 and "EndpointConnectionError" in e["error"] for e in errors)
    assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
    assert path.exists()
    [status] = await read_service_status(redis, ["rainforest"])
    assert "S3 unavailable" in (status.last_error or "") and status.jobs_failed == 3
    # the cron run at start-up (and any 5-minute run the clock reached meanwhile) met the
    # enqueued run's lock and did nothing
    cron_runs = [
        e
        for e in logs
        if e["event"] == "job.done" and e["job"] == "rotate_logs" and e["job_id"] != "rotate:down"
    ]
    assert cron_runs and all(e.get("skipped") == 1 for e in cron_runs), cron_runs
    skipped = [e for e in logs if e["event"] == "rainforest.rotate.skipped"]
    assert len(skipped) == len(cron_runs)

    # S3 back: the next run uploads
    queue = await connect_queue(core.redis_url)
    await enqueue(queue, "rainforest", "rotate_logs", job_id="rotate:up")
    worker = build_worker(WorkerSettings, core, burst=True)
    with capture_logs() as logs:
        await worker.main()
        await worker.close()
    await queue.aclose()
    done = [e for e in logs if e["event"] == "job.done" and e["job"] == "rotate_logs"]
    assert done and done[0]["uploaded"] == 1 and done[0]["failed"] == 0
    assert not path.exists()
    [status] = await read_service_status(redis, ["rainforest"])
    assert status.counters["files_uploaded"] == 1 and status.last_ok is not None
