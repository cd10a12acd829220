"""Rotation against moto: a stopped user's closed hour is uploaded, verified, then deleted;
S3 down keeps files for the next run; a different object at the key is never overwritten."""

import gzip
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from services.main import cli
from services.rainforest.rotation import closed_hour_files, ensure_bucket, rotate
from services.rainforest.worker import WorkerSettings
from shared.aws import AwsConfig, aws_client
from shared.cli import run_cli
from shared.heartbeat import read_service_status
from shared.queues import connect_queue, enqueue
from shared.settings import CoreSettings
from shared.worker import build_worker

NOW = datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
KEY = "rainforest-logs/000042/2026/11/23/iseif-rainforest-000042-2026-11-23-07.jl.gz"


@pytest.fixture
def bucket() -> str:
    """A fresh bucket per test (the moto server lives for the whole session)."""
    return f"rf-{uuid.uuid4().hex[:12]}"


def write_log(root: Path, cloud_id: str, hour: str, text: str) -> Path:
    path = root / hour / f"iseif-rainforest-{cloud_id}-{hour}.jl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("hour", "grace_s", "closed"),
    [("2026-11-23-07", 60, True), ("2026-11-23-08", 0, False), ("2026-11-23-07", 600, False)],
)
def test_closed_hour_files(tmp_path: Path, hour: str, grace_s: float, closed: bool) -> None:
    write_log(tmp_path, "000042", hour, "{}\n")
    (tmp_path / hour / "notes.txt").write_text("ignored")
    assert bool(closed_hour_files(tmp_path, NOW, grace_s)) is closed


async def test_stopped_users_hour_uploaded_verified_then_deleted(
    aws: AwsConfig, tmp_path: Path, bucket: str
) -> None:
    path = write_log(tmp_path, "000042", "2026-11-23-07", '{"demand_kw": 1.0}\n')
    current = write_log(tmp_path, "000042", "2026-11-23-08", "{}\n")
    async with aws_client(aws, "s3") as s3:
        await ensure_bucket(s3, bucket)
        with capture_logs() as logs:
            result = await rotate(s3, bucket, tmp_path, NOW, 60)
        assert result.uploaded == [KEY] and not result.failed
        body = await (await s3.get_object(Bucket=bucket, Key=KEY))["Body"].read()
        assert gzip.decompress(body) == b'{"demand_kw": 1.0}\n'
        assert not path.exists() and not path.parent.exists() and current.exists()
        assert [e["key"] for e in logs if e["event"] == "rainforest.rotate.uploaded"] == [KEY]

        # the same hour again with other content (a late file): goes to a suffix
        write_log(tmp_path, "000042", "2026-11-23-07", '{"demand_kw": 2.0}\n')
        result = await rotate(s3, bucket, tmp_path, NOW, 60)
        assert result.uploaded == [KEY + ".1"]
        body = await (await s3.get_object(Bucket=bucket, Key=KEY))["Body"].read()
        assert gzip.decompress(body) == b'{"demand_kw": 1.0}\n'


async def test_s3_down_keeps_files_until_next_run(
    aws: AwsConfig, tmp_path: Path, bucket: str
) -> None:
    path = write_log(tmp_path, "000042", "2026-11-23-07", "{}\n")
    down = AwsConfig(
        region="us-east-1", endpoint_url="http://127.0.0.1:9", access_key_id="x",
        secret_access_key="x", timeout_s=1, max_attempts=1,
    )  # fmt: skip
    async with aws_client(down, "s3") as s3:
        with capture_logs() as logs:
            result = await rotate(s3, bucket, tmp_path, NOW, 60)
    assert result.failed == [str(path)] and path.exists()
    assert any(e["event"] == "rainforest.rotate.failed" for e in logs)
    async with aws_client(aws, "s3") as s3:
        await ensure_bucket(s3, bucket)
        result = await rotate(s3, bucket, tmp_path, NOW, 60)
    assert result.uploaded == [KEY] and not path.exists()


def test_cli_rotate_and_users(
    cli_env: dict,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv("FORKLIFT_RAINFOREST_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("FORKLIFT_RAINFOREST_S3_bucket", bucket)
    monkeypatch.setenv("FORKLIFT_RAINFOREST_ENCRYPTION_KEY", Fernet.generate_key().decode())
    write_log(tmp_path, "000042", "2020-01-01-00", "{}\n")
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


async def test_worker_rotate_job(
    core: CoreSettings, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis: Redis
) -> None:
    monkeypatch.setenv("FORKLIFT_RAINFOREST_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("FORKLIFT_RAINFOREST_S3_BUCKET", bucket)
    path = write_log(tmp_path, "000042", "2020-01-01-00", "{}\n")
    queue = await connect_queue(core.redis_url)
    await enqueue(queue, "rainforest", "rotate_logs", job_id="rotate:test")
    worker = build_worker(WorkerSettings, core, burst=True)
    with capture_logs() as logs:
        await worker.main()
        await worker.close()
    await queue.aclose()
    done = [e for e in logs if e["event"] == "job.done" and e["job"] == "rotate_logs"]
    assert done and done[0]["uploaded"] == 1 and done[0]["failed"] == 0
    assert not path.exists()
    [status] = await read_service_status(redis, ["rainforest"])
    assert status.counters["files_uploaded"] == 1
