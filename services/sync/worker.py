"""``forklift worker sync``: syncs every configured table at start-up and every
FORKLIFT_SYNC_INTERVAL_MINUTES, and runs ``sync_table`` jobs queued by others."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from arq.cron import CronJob
from arq.worker import func

from services.sync.clients import open_clients
from services.sync.errors import SyncError
from services.sync.runner import SyncFailure, sync_all, sync_table
from services.sync.settings import SyncSettings
from shared.queues import every_minutes
from shared.settings import load_settings
from shared.worker import job

__all__ = ["WorkerSettings"]


@job
async def sync_table_job(ctx: dict[str, Any], table: str, mode: str | None = None) -> dict:
    """Sync one table (queue it with job id ``sync:<table>``; re-queueable once done)."""
    report = await sync_table(ctx["sync"], ctx["settings"], table, mode)  # type: ignore[arg-type]
    await ctx["heartbeat"].count("rows", report.rows)
    return {"table": table, "mode": report.mode, "rows": report.rows, "parts": report.parts}


@job
async def sync_all_job(ctx: dict[str, Any]) -> dict:
    """Sync every configured table; fails (after running them all) if any table failed."""
    results = await sync_all(ctx["sync"], ctx["settings"])
    rows = sum(r.rows for r in results if not isinstance(r, SyncFailure))
    await ctx["heartbeat"].count("rows", rows)
    failed = [r for r in results if isinstance(r, SyncFailure)]
    if failed:
        raise SyncError("; ".join(f.line() for f in failed))
    return {"tables": len(results), "rows": rows}


class _CronJobs:
    """The cron list, read when the worker is built (its interval is a setting)."""

    def __get__(self, instance: object, owner: type) -> list[CronJob]:
        minutes = load_settings(SyncSettings).interval_minutes
        return [every_minutes(sync_all_job, minutes, run_at_startup=True, name="sync_all")]


async def on_startup(ctx: dict[str, Any]) -> None:
    stack = AsyncExitStack()
    ctx["sync_stack"] = stack
    ctx["sync"] = await stack.enter_async_context(open_clients(ctx["core"], ctx["redis"]))


async def on_shutdown(ctx: dict[str, Any]) -> None:
    await ctx["sync_stack"].aclose()


class WorkerSettings:
    service = "sync"
    settings_cls = SyncSettings
    functions = [func(sync_table_job, name="sync_table", keep_result=0)]
    cron_jobs = _CronJobs()
    on_startup = on_startup
    on_shutdown = on_shutdown
    max_jobs = 2
    max_tries = 1
