"""``forklift piwik``: import web-server logs into Matomo and the warehouse, report stats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click
from tqdm import tqdm

from services.piwik.clients import open_clients
from services.piwik.days import day_range, parse_day, yesterday
from services.piwik.importer import DayReport, import_day
from services.piwik.settings import PiwikSettings
from services.piwik.sites import Site, find_site, load_sites
from services.piwik.stats import collect_stats, render_csv, render_table
from shared.cli import core_settings, run_async
from shared.settings import load_settings

__all__ = ["group"]

_dry_run = click.option(
    "--dry-run", is_flag=True, help="Parse and count only: no Matomo, warehouse or S3 writes."
)
_force = click.option(
    "--force",
    is_flag=True,
    help="Re-import files the ledger records as imported (Matomo will count them twice).",
)


@click.group(
    name="piwik", help="Web-server logs on S3 -> Matomo bulk tracking API and the warehouse."
)
def group() -> None:
    pass


def _run(plan: list[tuple[Site, date]], dry_run: bool, force: bool) -> int:
    """Import each (site, day), print one line per day; exit 1 if a file failed."""
    settings = load_settings(PiwikSettings)
    core = core_settings()

    async def _go() -> list[DayReport]:
        reports = []
        async with open_clients(core, settings) as clients:
            for site, day in tqdm(plan, disable=len(plan) < 2, unit="day", leave=False):
                reports.append(
                    await import_day(clients, settings, site, day, dry_run=dry_run, force=force)
                )
        return reports

    reports = run_async(_go())
    for report in reports:
        click.echo(report.line())
    return 0 if all(r.ok for r in reports) else 1


def _site(name: str) -> Site:
    return find_site(load_sites(load_settings(PiwikSettings).sites_file), name)


@group.command(
    name="import",
    help="Import one site's logs of one day (in the site's timezone).\n\n"
    "Example: forklift piwik import www.example.org 2026-11-20 --dry-run",
)
@click.argument("site")
@click.argument("day")
@_dry_run
@_force
def import_command(site: str, day: str, dry_run: bool, force: bool) -> int:
    return _run([(_site(site), parse_day(day))], dry_run, force)


@group.command(
    help="Import one site's logs for every day from START to END inclusive.\n\n"
    "Example: forklift piwik backfill www.example.org 2026-10-01 2026-11-01",
)
@click.argument("site")
@click.argument("start")
@click.argument("end")
@_dry_run
@_force
def backfill(site: str, start: str, end: str, dry_run: bool, force: bool) -> int:
    chosen = _site(site)
    return _run([(chosen, d) for d in day_range(parse_day(start), parse_day(end))], dry_run, force)


@group.command(
    help="Import every site's logs of yesterday (in each site's timezone).\n\n"
    "Example: forklift piwik daily",
)
@_dry_run
@_force
def daily(dry_run: bool, force: bool) -> int:
    sites = load_sites(load_settings(PiwikSettings).sites_file)
    now = datetime.now(UTC)
    return _run([(s, yesterday(s.timezone, now)) for s in sites.values()], dry_run, force)


@group.command(
    help="Per day: files, bytes, average bytes, lines, hits, bad lines, and Matomo's "
    "VisitsSummary when Matomo is configured.\n\n"
    "Example: forklift piwik stats www.example.org 2026-11-01 2026-11-08 --csv out.csv",
)
@click.argument("site")
@click.argument("start")
@click.argument("end", required=False)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path))
def stats(site: str, start: str, end: str | None, csv_path: Path | None) -> int:
    settings = load_settings(PiwikSettings)
    chosen = find_site(load_sites(settings.sites_file), site)
    first = parse_day(start)
    days = day_range(first, parse_day(end) if end else first)
    core = core_settings()

    async def _go() -> list[dict]:
        async with open_clients(core, settings.model_copy(update={"parse_processes": 1})) as c:
            return await collect_stats(c, chosen, days[0], days[-1])

    rows = run_async(_go())
    click.echo(render_table(rows))
    if csv_path is not None:
        csv_path.write_text(render_csv(rows))
        click.echo(f"wrote {csv_path}")
    return 0
