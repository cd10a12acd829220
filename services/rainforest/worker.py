"""``forklift worker rainforest``: rotation of closed hours to S3 every 5 minutes (each run also
retries every earlier failed upload, since failed files stay on disk)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq.worker import func

from services.rainforest.rotation import ensure_bucket, rotate
from services.rainforest.settings import RainforestSettings
from shared.aws import AwsConfig, aws_client
from shared.queues import every_minutes
from shared.worker import job

__all__ = ["WorkerSettings", "rotate_logs"]


@job
async def rotate_logs(ctx: dict[str, Any]) -> dict[str, int]:
    """Upload every closed hour now; returns uploaded/failed counts."""
    settings: RainforestSettings = ctx["settings"]
    result = await rotate(
        ctx["s3"],
        settings.s3_bucket,
        settings.logs_path(ctx["core"]),
        datetime.now(UTC),
        settings.rotate_grace_s,
    )
    await ctx["heartbeat"].count("files_uploaded", len(result.uploaded))
    if result.failed:
        await ctx["heartbeat"].count("uploads_failed", len(result.failed))
    return result.counts()


async def on_startup(ctx: dict[str, Any]) -> None:
    s3 = aws_client(AwsConfig.from_settings(ctx["core"]), "s3")
    ctx["s3"] = await ctx["exit_stack"].enter_async_context(s3)
    await ensure_bucket(ctx["s3"], ctx["settings"].s3_bucket)


class WorkerSettings:
    service = "rainforest"
    settings_cls = RainforestSettings
    functions = [func(rotate_logs, name="rotate_logs", keep_result=0)]
    cron_jobs = [every_minutes(rotate_logs, 5, run_at_startup=True)]
    on_startup = on_startup
    max_tries = 3
