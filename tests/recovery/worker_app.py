"""A worker for the recovery tests, run as a real process: ``python -m
tests.recovery.worker_app``. Its ``slow`` job notes each start and end in Redis, so a test
can see which process ran it and when."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from arq.worker import func

from shared.cli import run_async
from shared.logging import configure_logging
from shared.settings import CoreSettings, load_settings
from shared.worker import job, run_worker

SERVICE = "recoverytest"


@job
async def slow(ctx: dict[str, Any], name: str, seconds: float) -> dict:
    redis = ctx["redis"]
    await redis.rpush(f"recoverytest:{name}:started", os.getpid())
    await asyncio.sleep(seconds)
    await redis.rpush(f"recoverytest:{name}:done", os.getpid())
    return {"seconds": seconds}


class WorkerSettings:
    service = SERVICE
    functions = [func(slow, name="slow", keep_result=0)]
    job_timeout_s = 3600  # arq alone would keep a dead worker's job for an hour
    max_jobs = 2


def main() -> None:
    core = load_settings(CoreSettings)
    configure_logging(core.log_format, core.log_level)
    run_async(run_worker(WorkerSettings, core))


if __name__ == "__main__":
    main()
