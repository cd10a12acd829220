"""``forklift worker sync``: syncs every configured table at start-up and every
FORKLIFT_SYNC_INTERVAL_MINUTES, and runs ``sync_table`` jobs queued by others."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob
from arq.worker import func

from services.sync.clients import open_clients
from services.sync.errors import SyncError
from services.sync.runner import SyncFailure, sync_all, sync_table
from services.sync.settings import SyncSettings
from shared.queues import every_minutes
from shared.worker import job

__all__ = ["WorkerSettings"]


def _settings_for_try(ctx: dict[str, Any]) -> SyncSettings:
    """The sync settings for this attempt: a job run again after its worker died waits for
    the dead worker's table locks to expire instead of failing on them."""
    settings: SyncSettings = ctx["settings"]
    if ctx.get("job_try", 1) > 1:
        wait_s = max(settings.lock_wait_s, settings.lock_ttl_s * 1.5)
        return settings.model_copy(update={"lock_wait_s": wait_s})
    return settings


@job
async def sync_table_job(ctx: dict[str, Any], table: str, mode: str | None = None) -> dict:
    """Sync one table (queue it with job id ``sync:<table>``; re-queueable once done)."""
    report = await sync_table(ctx["sync"], _settings_for_try(ctx), table, mode)  # type: ignore[arg-type]
    await ctx["heartbeat"].count("rows", report.rows)
    return {"table": table, "mode": report.mode, "rows": report.rows, "parts": report.parts}


@job
async def sync_all_job(ctx: dict[str, Any]) -> dict:
    """Sync every configured table; fails (after running them all) if any table failed."""
    results = await sync_all(ctx["sync"], _settings_for_try(ctx))
    rows = sum(r.rows for r in results if not isinstance(r, SyncFailure))
    await ctx["heartbeat"].count("rows", rows)
    failed = [r for r in results if isinstance(r, SyncFailure)]
    if failed:
        raise SyncError("; ".join(f.line() for f in failed))
    return {"tables": len(results), "rows": rows}


def cron_jobs(settings: SyncSettings) -> list[CronJob]:
    """``sync_all`` at start-up and every ``interval_minutes``."""
    minutes = settings.interval_minutes
    return [every_minutes(sync_all_job, minutes, run_at_startup=True, name="sync_all")]


async def on_startup(ctx: dict[str, Any]) -> None:
    clients = open_clients(ctx["core"], ctx["redis"])
    ctx["sync"] = await ctx["exit_stack"].enter_async_context(clients)


class WorkerSettings:
    service = "sync"
    settings_cls = SyncSettings
    functions = [func(sync_table_job, name="sync_table", keep_result=0)]
    cron_jobs = staticmethod(cron_jobs)
    on_startup = on_startup
    max_jobs = 2
    # Tries count crash recoveries too: a job whose worker died runs again elsewhere (a
    # failed sync is not retried by arq; the next scheduled run retries its tables).
    max_tries = 3
    job_timeout_s = 1800
