"""Running a service's arq worker: settings and heartbeat in ``ctx``, one catch-all per job.

A service's ``worker.py`` defines a ``WorkerSettings`` class (arq style) with ``service``,
``functions`` (each wrapped with :func:`job`), optional ``cron_jobs`` (a list, or a function
of the service settings when a setting decides the schedule), ``settings_cls`` and
``on_startup``/``on_shutdown`` hooks. Clients opened in ``on_startup`` go on
``ctx["exit_stack"]``, which is closed after ``on_shutdown``. :func:`build_worker` turns it
into an arq ``Worker`` on the service's own queue.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from arq.worker import Retry, Worker

from shared.heartbeat import Heartbeat
from shared.logging import get_logger
from shared.queues import queue_name, redis_settings
from shared.settings import CoreSettings, load_settings

__all__ = ["job", "build_worker", "run_worker"]

log = get_logger("forklift.worker")

JobFunction = Callable[..., Awaitable[Any]]


def job(fn: JobFunction) -> JobFunction:
    """Wrap an arq job: log id, duration and returned counts; record the outcome in the
    heartbeat; re-raise so arq retries or marks the job failed."""

    @functools.wraps(fn)
    async def wrapper(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        name = fn.__name__
        job_id = ctx.get("job_id")
        started = time.monotonic()
        log.debug("job.start", job=name, job_id=job_id, attempt=ctx.get("job_try"))
        heartbeat: Heartbeat | None = ctx.get("heartbeat")
        try:
            result = await fn(ctx, *args, **kwargs)
        except Retry:
            log.info("job.retry", job=name, job_id=job_id)
            raise
        except Exception as e:
            seconds = round(time.monotonic() - started, 3)
            log.error("job.failed", job=name, job_id=job_id, seconds=seconds, error=str(e))
            if heartbeat is not None:
                await heartbeat.job_failed(name, f"{type(e).__name__}: {e}")
            raise
        seconds = round(time.monotonic() - started, 3)
        counts = result if isinstance(result, dict) else {}
        log.info("job.done", job=name, job_id=job_id, seconds=seconds, **counts)
        if heartbeat is not None:
            await heartbeat.job_ok(name)
        return result

    return wrapper


def build_worker(
    worker_settings: type, core: CoreSettings, *, burst: bool = False, **overrides: Any
) -> Worker:
    """An arq Worker for ``worker_settings`` reading ``forklift:queue:<service>``."""
    core.require("redis_url")
    service: str = worker_settings.service
    service_settings_cls = getattr(worker_settings, "settings_cls", None)
    service_settings = load_settings(service_settings_cls) if service_settings_cls else None
    service_startup = getattr(worker_settings, "on_startup", None)
    service_shutdown = getattr(worker_settings, "on_shutdown", None)

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["core"] = core
        ctx["settings"] = service_settings
        ctx["exit_stack"] = AsyncExitStack()
        heartbeat = Heartbeat(ctx["redis"], service)
        ctx["heartbeat"] = heartbeat
        if service_startup is not None:
            await service_startup(ctx)
        await heartbeat.start()
        log.info("worker.started", service=service, queue=queue_name(service), burst=burst)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await ctx["heartbeat"].stop()
        if service_shutdown is not None:
            await service_shutdown(ctx)
        await ctx["exit_stack"].aclose()
        log.info("worker.stopped", service=service)

    options: dict[str, Any] = {
        "functions": list(worker_settings.functions),
        "cron_jobs": _cron_jobs(worker_settings, service_settings) or None,
        "queue_name": queue_name(service),
        "redis_settings": redis_settings(core.redis_url or "", core.network_timeout_s),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "burst": burst,
        "handle_signals": not burst,
        # On SIGTERM, running jobs get this long to finish; then they are cancelled and arq
        # runs them again later (jobs are idempotent).
        "job_completion_wait": core.shutdown_grace_s,
        "max_jobs": getattr(worker_settings, "max_jobs", 4),
        # arq starts at most max_jobs jobs per poll, so services with many short jobs poll
        # more often (the default 0.5 s caps them at 8 jobs/s).
        "poll_delay": getattr(worker_settings, "poll_delay_s", 0.5),
        "job_timeout": getattr(worker_settings, "job_timeout_s", 3600),
        "max_tries": getattr(worker_settings, "max_tries", 5),
        "keep_result": 3600,
    }
    options.update(overrides)
    return Worker(**options)


def _cron_jobs(worker_settings: type, service_settings: Any) -> list[Any]:
    crons = getattr(worker_settings, "cron_jobs", None) or []
    return list(crons(service_settings) if callable(crons) else crons)


async def run_worker(worker_settings: type, core: CoreSettings, *, burst: bool = False) -> None:
    """Run the worker until SIGTERM/SIGINT (or, with ``burst``, until its queue is empty)."""
    worker = build_worker(worker_settings, core, burst=burst)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass  # SIGTERM/SIGINT: arq cancelled the main task; jobs in hand are retried later
    finally:
        await worker.close()
