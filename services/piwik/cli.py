"""``forklift piwik``: import web-server logs (from S3 or local files) into Matomo and the
warehouse, report stats."""

from __future__ import annotations

import codecs
import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from services.piwik.clients import open_clients
from services.piwik.days import day_range, parse_day, yesterday
from services.piwik.errors import BadPath
from services.piwik.formats import ALIASES, FORMATS, FormatSpec
from services.piwik.importer import DayReport, import_days, import_files
from services.piwik.local_files import check_paths
from services.piwik.parse_w3c import W3cOptions
from services.piwik.settings import PiwikSettings
from services.piwik.sites import Site, find_site, load_sites, make_site
from services.piwik.stats import collect_stats, render_csv, render_table
from shared.cli import core_settings, run_async
from shared.errors import UsageError
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
    name="piwik",
    help="Web-server logs (S3 or local files) -> Matomo bulk tracking API and the warehouse.",
)
def group() -> None:
    pass


def _echo(reports: list[DayReport]) -> int:
    """One line per day; exit 1 if a file failed or stayed partial."""
    for report in reports:
        click.echo(report.line())
    return 0 if all(r.ok for r in reports) else 1


def _run(plan: list[tuple[Site, list[date]]], dry_run: bool, force: bool) -> int:
    """Import each site's days (each file read once), print one line per day."""
    settings = load_settings(PiwikSettings)
    core = core_settings()

    async def _go() -> list[DayReport]:
        reports = []
        async with open_clients(core, settings) as clients:
            for site, days in plan:
                reports += await import_days(
                    clients, settings, site, days, dry_run=dry_run, force=force
                )
        return reports

    return _echo(run_async(_go()))


def _site(name: str) -> Site:
    return find_site(load_sites(load_settings(PiwikSettings).sites_file), name)


@group.command(
    name="import",
    help="Import one site's logs of one day (in the site's timezone): every file on S3 "
    "whose lines hold that day, whenever it was uploaded.\n\n"
    "Example: forklift piwik import www.example.org 2026-11-20 --dry-run",
)
@click.argument("site")
@click.argument("day")
@_dry_run
@_force
def import_command(site: str, day: str, dry_run: bool, force: bool) -> int:
    return _run([(_site(site), [parse_day(day)])], dry_run, force)


@group.command(
    help="Import one site's logs for every day from START to END inclusive (each file read "
    "once, e.g. archived logs uploaded today).\n\n"
    "Example: forklift piwik backfill www.example.org 2025-10-01 2025-11-01",
)
@click.argument("site")
@click.argument("start")
@click.argument("end")
@_dry_run
@_force
def backfill(site: str, start: str, end: str, dry_run: bool, force: bool) -> int:
    chosen = _site(site)
    return _run([(chosen, day_range(parse_day(start), parse_day(end)))], dry_run, force)


@group.command(
    help="Import every site's logs of yesterday (in each site's timezone).\n\n"
    "Example: forklift piwik daily",
)
@_dry_run
@_force
def daily(dry_run: bool, force: bool) -> int:
    sites = load_sites(load_settings(PiwikSettings).sites_file)
    now = datetime.now(UTC)
    return _run([(s, [yesterday(s.timezone, now)]) for s in sites.values()], dry_run, force)


def _configured_site(settings: PiwikSettings, id_site: int, name: str | None) -> Site | None:
    """The sites file's site with this idSite (or name), if there is a sites file."""
    if name is not None:
        site = find_site(load_sites(settings.sites_file), name)
        if site.id_site != id_site:
            raise UsageError(f"site {name} has idSite {site.id_site}, not {id_site}")
        return site
    if not settings.sites_file.exists():
        return None
    matches = [s for s in load_sites(settings.sites_file).values() if s.id_site == id_site]
    return matches[0] if len(matches) == 1 else None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--timezone: unknown timezone {name!r}, e.g. Europe/Paris") from None


def _encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"--encoding: unknown encoding {name!r}, e.g. latin-1") from None


def _file_site(
    base: Site | None,
    id_site: int,
    given: dict[str, str | bool | None],
    flags: dict[str, bool | None],
) -> Site:
    """The site local files are imported for: the configured one (``base``) with the
    options given on the command line, or one made of them."""
    site = base or make_site(f"idsite-{id_site}", id_site, main_url="https://unknown.invalid")
    try:
        w3c = site.log_format.w3c
        if given["w3c_fields"] or given["w3c_field_map"] or given["w3c_time_taken_ms"]:
            field_map = dict(w3c.field_map)
            for pair in (given["w3c_field_map"] or "").split(","):
                if pair:
                    custom, equals, standard = pair.partition("=")
                    if not equals or not custom or not standard:
                        raise ValueError(f"--w3c-field-map: {pair!r} is not CUSTOM=STANDARD")
                    field_map[custom] = standard
            w3c = W3cOptions(
                given["w3c_fields"] or w3c.fields_line,
                field_map,
                bool(given["w3c_time_taken_ms"]) or w3c.time_taken_ms,
            )
        if (
            given["log_format"]
            or given["regex"]
            or given["date_format"]
            or w3c != site.log_format.w3c
        ):
            name = given["log_format"] or ("regex" if given["regex"] else site.log_format.name)
            spec = FormatSpec(
                name,
                regex=given["regex"] or site.log_format.regex,
                date_format=given["date_format"] or site.log_format.date_format,
                w3c=w3c,
            )
            site = dataclasses.replace(site, log_format=spec)
        if given["timezone"]:
            site = dataclasses.replace(site, timezone=_zone(str(given["timezone"])))
        if given["encoding"]:
            site = dataclasses.replace(site, encoding=_encoding(str(given["encoding"])))
        if given["main_url"]:
            site = dataclasses.replace(
                site, main_url=make_site(site.name, id_site, main_url=given["main_url"]).main_url
            )
    except ValueError as e:
        raise UsageError(str(e)) from None
    chosen = {k: v for k, v in flags.items() if v is not None}
    return dataclasses.replace(site, options=dataclasses.replace(site.options, **chosen))


@group.command(
    name="import-file",
    help="Import local log files (plain, .gz, .bz2 or .zip) into Matomo site IDSITE: "
    "every day their lines hold, with the same ledger (a file is imported once; a "
    "crashed import resumes), web_hits and stats as files on S3. The site's settings "
    "come from the sites file when a site there has that idSite; the options override "
    "them.\n\n"
    "Example: forklift piwik import-file /var/log/nginx/access.log.1 access.log.2.gz "
    "--idsite 3 --format combined",
)
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--idsite", "id_site", type=click.IntRange(min=1), required=True, help="Matomo idSite."
)
@click.option("--site", "site_name", help="Use this configured site's settings.")
@click.option(
    "--format",
    "log_format",
    type=click.Choice([*FORMATS, *ALIASES]),
    help="Log format (default: the site's, or detected).",
)
@click.option(
    "--regex", help="With --format regex: a regex with named groups (ip, date, path, status, ...)."
)
@click.option("--date-format", help="With --format regex: the strptime format of the date group.")
@click.option("--w3c-fields", help="W3C: the #Fields line of logs written without one.")
@click.option(
    "--w3c-field-map",
    metavar="CUSTOM=STANDARD,...",
    help="W3C: read custom fields as standard ones, e.g. date-local=date,time-local=time.",
)
@click.option(
    "--w3c-time-taken-ms", is_flag=True, default=None, help="W3C: time-taken is in milliseconds."
)
@click.option("--encoding", help="The files' encoding (default utf-8), e.g. big5, latin-1.")
@click.option("--timezone", help="Whose midnight a day starts at (default: the site's, or UTC).")
@click.option("--main-url", help="The site's main URL (default: the site's, or Matomo's).")
@click.option(
    "--static/--no-static", default=None, help="Send static files as downloads (default on)."
)
@click.option(
    "--bots/--no-bots", default=None, help="Send bots' hits, each with bots=1 (default on)."
)
@click.option(
    "--http-errors/--no-http-errors", default=None, help="Send 4xx/5xx hits (default on)."
)
@click.option(
    "--http-redirects/--no-http-redirects", default=None, help="Send 3xx hits but 304 (default on)."
)
@_dry_run
@_force
def import_file(
    paths: tuple[str, ...],
    id_site: int,
    site_name: str | None,
    log_format: str | None,
    regex: str | None,
    date_format: str | None,
    w3c_fields: str | None,
    w3c_field_map: str | None,
    w3c_time_taken_ms: bool | None,
    encoding: str | None,
    timezone: str | None,
    main_url: str | None,
    static: bool | None,
    bots: bool | None,
    http_errors: bool | None,
    http_redirects: bool | None,
    dry_run: bool,
    force: bool,
) -> int:
    files = check_paths(list(paths))
    settings = load_settings(PiwikSettings)
    base = _configured_site(settings, id_site, site_name)
    given = {
        "log_format": log_format,
        "regex": regex,
        "date_format": date_format,
        "w3c_fields": w3c_fields,
        "w3c_field_map": w3c_field_map,
        "w3c_time_taken_ms": w3c_time_taken_ms,
        "encoding": encoding,
        "timezone": timezone,
        "main_url": main_url,
    }
    flags = {
        "static": static,
        "bots": bots,
        "http_errors": http_errors,
        "http_redirects": http_redirects,
    }
    site = _file_site(base, id_site, given, flags)
    core = core_settings()

    async def _go() -> list[DayReport]:
        async with open_clients(core, settings) as clients:
            chosen = site
            if base is None and main_url is None:  # as import_logs.py: ask Matomo
                if clients.matomo is None:
                    raise UsageError(
                        f"give --main-url: no site in the sites file has idSite {id_site}"
                        " and Matomo (FORKLIFT_PIWIK_MATOMO_URL) is not configured to ask"
                    )
                chosen = dataclasses.replace(site, main_url=await clients.matomo.main_url(id_site))
            return await import_files(
                clients, settings, chosen, files, dry_run=dry_run, force=force
            )

    return _echo(run_async(_go()))


@group.command(
    help="Per day: files, bytes, average bytes, lines, hits, bad lines of the files "
    "imported, counted on the days their lines belong to, and Matomo's VisitsSummary "
    "when Matomo is configured.\n\n"
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
    if csv_path is not None and not csv_path.parent.is_dir():
        raise BadPath(f"cannot write {csv_path}: no folder {csv_path.parent}")
    core = core_settings()

    async def _go() -> list[dict]:
        async with open_clients(core, settings.model_copy(update={"parse_processes": 1})) as c:
            return await collect_stats(c, chosen, days[0], days[-1])

    rows = run_async(_go())
    click.echo(render_table(rows))
    if csv_path is not None:
        try:
            csv_path.write_text(render_csv(rows))
        except OSError as e:
            raise BadPath(f"cannot write {csv_path}: {e.strerror}") from None
        click.echo(f"wrote {csv_path}")
    return 0
