"""``forklift worker rainforest``: rotation of closed hours to S3 every 5 minutes (each run also
retries every earlier failed upload, since failed files stay on disk).

The worker starts whether or not S3 answers (the client is only created here). A run that
S3 stops logs one line, records the failure in the ops status and is retried after
``ROTATE_RETRY_S`` (at most ``max_tries`` times; the next cron run comes anyway). A run that
finds another run holding the rotation lock does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq.worker import Retry, func

from services.rainforest.errors import RotationBusy
from services.rainforest.rotation import rotate, rotation_lock
from services.rainforest.settings import RainforestSettings
from shared.aws import AwsConfig, aws_client
from shared.logging import get_logger
from shared.queues import every_minutes
from shared.worker import job

__all__ = ["WorkerSettings", "rotate_logs"]

log = get_logger("forklift.rainforest.worker")


@job
async def rotate_logs(ctx: dict[str, Any]) -> dict[str, int]:
    """Upload every closed hour now; returns uploaded/failed/kept/torn_lines counts."""
    settings: RainforestSettings = ctx["settings"]
    try:
        async with rotation_lock(ctx["redis"]):
            result = await rotate(
                ctx["s3"],
                settings.s3_bucket,
                settings.logs_path(ctx["core"]),
                datetime.now(UTC),
                settings.rotate_grace_s,
            )
    except RotationBusy as e:
        log.info("rainforest.rotate.skipped", reason=str(e))
        return {"skipped": 1}
    heartbeat = ctx["heartbeat"]
    if result.uploaded:
        await heartbeat.count("files_uploaded", len(result.uploaded))
    if result.failed or result.kept:
        await heartbeat.count("uploads_failed", len(result.failed) + result.kept)
    if result.error is not None:
        log.error(
            "rainforest.rotate.s3_unavailable",
            error=result.error,
            kept=result.kept,
            retry_in_s=settings.rotate_retry_s,
            **{k: v for k, v in result.counts().items() if k != "kept"},
        )
        await heartbeat.job_failed("rotate_logs", f"{result.error}; {result.kept} files kept")
        raise Retry(defer=settings.rotate_retry_s)
    return result.counts()


async def on_startup(ctx: dict[str, Any]) -> None:
    s3 = aws_client(AwsConfig.from_settings(ctx["core"]), "s3")
    ctx["s3"] = await ctx["exit_stack"].enter_async_context(s3)


class WorkerSettings:
    service = "rainforest"
    settings_cls = RainforestSettings
    functions = [func(rotate_logs, name="rotate_logs", keep_result=0)]
    cron_jobs = [every_minutes(rotate_logs, 5, run_at_startup=True)]
    on_startup = on_startup
    max_tries = 3
