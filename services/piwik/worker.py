"""``forklift worker piwik``: imports every site's yesterday at start-up and daily at
FORKLIFT_PIWIK_DAILY_HOUR_UTC, and runs ``import_day`` jobs queued by others."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq.cron import CronJob, cron
from arq.worker import func

from services.piwik.clients import open_clients
from services.piwik.days import parse_day, yesterday
from services.piwik.errors import PiwikError
from services.piwik.importer import DayReport, import_day
from services.piwik.settings import PiwikSettings
from services.piwik.sites import find_site, load_sites
from shared.worker import job

__all__ = ["WorkerSettings", "import_job_id"]


def import_job_id(site: str, day: str) -> str:
    """Job id of a site's day import: one at a time, re-queueable once done."""
    return f"piwik:import:{site}:{day}"


async def _import(ctx: dict[str, Any], site: str, day: str, force: bool) -> DayReport:
    settings: PiwikSettings = ctx["settings"]
    chosen = find_site(load_sites(settings.sites_file), site)
    report = await import_day(ctx["piwik"], settings, chosen, parse_day(day), force=force)
    await ctx["heartbeat"].count("hits", report.count("hits"))
    return report


@job
async def import_day_job(ctx: dict[str, Any], site: str, day: str, force: bool = False) -> dict:
    """Import one site's day; fails if a file failed or stayed partial (a re-run resumes)."""
    report = await _import(ctx, site, day, force)
    if not report.ok:
        raise PiwikError(report.line())
    return {"site": site, "day": day, "files": len(report.files), "hits": report.count("hits")}


@job
async def daily_job(ctx: dict[str, Any]) -> dict:
    """Import every site's yesterday; fails (after all sites ran) if any file failed."""
    settings: PiwikSettings = ctx["settings"]
    now = datetime.now(UTC)
    reports = []
    for site in load_sites(settings.sites_file).values():
        reports.append(
            await _import(ctx, site.name, yesterday(site.timezone, now).isoformat(), False)
        )
    failed = [r.line() for r in reports if not r.ok]
    if failed:
        raise PiwikError("; ".join(failed))
    return {"sites": len(reports), "hits": sum(r.count("hits") for r in reports)}


def cron_jobs(settings: PiwikSettings) -> list[CronJob]:
    """The daily import at ``daily_hour_utc``:15 (and at start-up)."""
    return [
        cron(
            daily_job,
            name="piwik_daily",
            hour={settings.daily_hour_utc},
            minute={15},
            second={0},
            run_at_startup=True,
            unique=True,
        )
    ]


async def on_startup(ctx: dict[str, Any]) -> None:
    clients = open_clients(ctx["core"], ctx["settings"])
    ctx["piwik"] = await ctx["exit_stack"].enter_async_context(clients)


class WorkerSettings:
    service = "piwik"
    settings_cls = PiwikSettings
    functions = [func(import_day_job, name="import_day", keep_result=0)]
    cron_jobs = staticmethod(cron_jobs)
    on_startup = on_startup
    max_jobs = 1
    max_tries = 3
    job_timeout_s = 1800  # a day of a busy site's logs
