"""Running a service's arq worker: settings and heartbeat in ``ctx``, one catch-all per job.

A service's ``worker.py`` defines a ``WorkerSettings`` class (arq style) with ``service``,
``functions`` (each wrapped with :func:`job`), optional ``cron_jobs`` (a list, or a function
of the service settings when a setting decides the schedule), ``settings_cls``,
``on_startup``/``on_shutdown`` hooks and optional ``job_timeout_s``, ``max_jobs``,
``max_tries``, ``poll_delay_s``. Clients opened in ``on_startup`` go on
``ctx["exit_stack"]``, which is closed after ``on_shutdown``. :func:`build_worker` turns it
into an arq ``Worker`` on the service's own queue.

Recovery: every worker runs a :class:`~shared.recovery.Reaper` that releases the jobs of dead
workers of its service within about 15 s (FORKLIFT_HEARTBEAT_INTERVAL_S x 7); :func:`run_worker` rides out a Redis outage
(one log line, retries with backoff for ``FORKLIFT_REDIS_RETRY_S``) and resumes. An idle
worker polls its queue every ``IDLE_POLL_S``; while jobs come, every ``poll_delay_s``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from arq.worker import Retry, Worker
from redis.exceptions import RedisError

from shared.errors import ForkliftError, describe
from shared.heartbeat import Heartbeat
from shared.logging import get_logger
from shared.queues import queue_name, redis_settings
from shared.recovery import Reaper
from shared.settings import CoreSettings, load_settings

__all__ = ["job", "build_worker", "run_worker", "RedisUnavailable"]

log = get_logger("forklift.worker")

DEFAULT_JOB_TIMEOUT_S = 600
IDLE_POLL_S = 0.5


class RedisUnavailable(ForkliftError):
    """Redis stayed unreachable for longer than FORKLIFT_REDIS_RETRY_S."""


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
        if heartbeat is not None and job_id:
            await heartbeat.job_started(job_id)
        try:
            result = await fn(ctx, *args, **kwargs)
        except Retry:
            log.info("job.retry", job=name, job_id=job_id)
            raise
        except Exception as e:
            seconds = round(time.monotonic() - started, 3)
            log.error("job.failed", job=name, job_id=job_id, seconds=seconds, error=describe(e))
            log.debug("job.failed.traceback", job=name, job_id=job_id, exc_info=True)
            if heartbeat is not None:
                await heartbeat.job_failed(name, describe(e))
            raise
        finally:
            if heartbeat is not None and job_id:
                await asyncio.shield(heartbeat.job_ended(job_id))
        seconds = round(time.monotonic() - started, 3)
        counts = result if isinstance(result, dict) else {}
        log.info("job.done", **{**counts, "job": name, "job_id": job_id, "seconds": seconds})
        if heartbeat is not None:
            await heartbeat.job_ok(name)
        return result

    return wrapper


class ForkliftWorker(Worker):
    """arq's Worker, backing off from ``poll_delay`` to ``IDLE_POLL_S`` between polls while
    its queue has nothing for it (so an idle worker costs next to nothing) and back to
    ``poll_delay`` as soon as a job starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_delay_s = 0.0

    async def _poll_iteration(self) -> None:
        started = self._jobs_started()
        await super()._poll_iteration()
        if self.tasks or self._jobs_started() != started:
            self._idle_delay_s = 0.0
            return
        self._idle_delay_s = min(IDLE_POLL_S, max(self.poll_delay_s, 2 * self._idle_delay_s))
        if self._idle_delay_s > self.poll_delay_s:
            await asyncio.sleep(self._idle_delay_s - self.poll_delay_s)


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
        heartbeat = Heartbeat(ctx["redis"], service, core.heartbeat_interval_s)
        ctx["heartbeat"] = heartbeat
        if service_startup is not None:
            await service_startup(ctx)
        await heartbeat.start()
        reaper = Reaper(ctx["redis"], service, 2 * heartbeat.interval_s, heartbeat.interval_s)
        ctx["reaper"] = asyncio.create_task(reaper.run(), name=f"reaper:{service}")
        log.info("worker.started", service=service, queue=queue_name(service), burst=burst)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        if "reaper" in ctx:
            ctx["reaper"].cancel()
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
        # Also how long arq keeps a running job's in-progress mark: the Reaper releases the
        # jobs of a dead worker long before.
        "job_timeout": getattr(worker_settings, "job_timeout_s", DEFAULT_JOB_TIMEOUT_S),
        "max_tries": getattr(worker_settings, "max_tries", 5),
        "keep_result": 3600,
    }
    options.update(overrides)
    return ForkliftWorker(**options)


def _cron_jobs(worker_settings: type, service_settings: Any) -> list[Any]:
    crons = getattr(worker_settings, "cron_jobs", None) or []
    return list(crons(service_settings) if callable(crons) else crons)


async def run_worker(worker_settings: type, core: CoreSettings, *, burst: bool = False) -> None:
    """Run the worker until SIGTERM/SIGINT (or, with ``burst``, until its queue is empty).

    Losing Redis stops the worker (its jobs in hand are retried later); it logs one line and
    starts again with backoff until Redis answers, or raises RedisUnavailable after
    ``core.redis_retry_s``."""
    service = worker_settings.service
    outage_started: float | None = None
    delay_s = 1.0
    while True:
        worker = build_worker(worker_settings, core, burst=burst)
        try:
            await worker.async_run()
            return
        except asyncio.CancelledError:
            return  # SIGTERM/SIGINT: arq cancelled the main task; jobs in hand are retried later
        except (RedisError, OSError) as e:
            now = time.monotonic()
            if outage_started is None or "heartbeat" in worker.ctx:
                outage_started, delay_s = now, 1.0  # it had connected: a new outage
            if now - outage_started > core.redis_retry_s:
                raise RedisUnavailable(
                    f"Redis unreachable for {now - outage_started:.0f}s"
                    f" (FORKLIFT_REDIS_RETRY_S={core.redis_retry_s:g}): {describe(e)}"
                ) from None
            log.error("worker.redis_lost", service=service, error=describe(e), retry_in_s=delay_s)
        finally:
            await _close_quietly(worker)
        await asyncio.sleep(delay_s)
        delay_s = min(30.0, delay_s * 2)


async def _close_quietly(worker: Worker) -> None:
    """Close the worker; with Redis gone, its clean-up calls fail and are only noted."""
    try:
        await worker.close()
    except (RedisError, OSError) as e:
        log.debug("worker.close.redis_unreachable", error=describe(e))
