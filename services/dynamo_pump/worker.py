"""``forklift worker dynamo_pump``: the pump runs as a background task for the worker's
lifetime; a cron re-plans the queues every FORKLIFT_DYNAMO_PLAN_INTERVAL_MINUTES, and sync
queues a plan as soon as it lands new fbids (``shared.handoff``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq.cron import CronJob
from arq.worker import func

from services.dynamo_pump.clients import open_pump
from services.dynamo_pump.pump import plan
from services.dynamo_pump.settings import DynamoSettings
from shared.handoff import DYNAMO_PLAN_JOB
from shared.logging import get_logger
from shared.queues import every_minutes
from shared.worker import job

__all__ = ["WorkerSettings"]

log = get_logger("forklift.dynamo")


@job
async def plan_job(ctx: dict[str, Any]) -> dict:
    """Re-plan every queue from the warehouse."""
    pump = ctx["pump"]
    return await plan(pump.settings, pump.warehouse, pump.queues)


def cron_jobs(settings: DynamoSettings) -> list[CronJob]:
    """Planning at start-up and every ``plan_interval_minutes``."""
    minutes = settings.plan_interval_minutes
    return [every_minutes(plan_job, minutes, run_at_startup=True, name="plan")]


def _task_done(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dynamo.pump.crashed", error=str(task.exception()))


async def on_startup(ctx: dict[str, Any]) -> None:
    ctx["pump"] = await ctx["exit_stack"].enter_async_context(
        open_pump(ctx["core"], ctx["settings"], ctx["redis"], ctx["heartbeat"])
    )
    ctx["pump_task"] = asyncio.create_task(ctx["pump"].run(), name="dynamo-pump")
    ctx["pump_task"].add_done_callback(_task_done)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    task: asyncio.Task = ctx["pump_task"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


class WorkerSettings:
    service = "dynamo_pump"
    settings_cls = DynamoSettings
    # keep_result=0: sync may ask for the next plan as soon as this one is done.
    functions = [func(plan_job, name=DYNAMO_PLAN_JOB, keep_result=0)]
    cron_jobs = staticmethod(cron_jobs)
    on_startup = on_startup
    on_shutdown = on_shutdown
    max_jobs = 1
    max_tries = 3  # a plan whose worker died runs again elsewhere
