"""The sites config: which logs belong to which Matomo site, how to read them (format,
encoding, timezone), what to send (import_logs.py's ``--enable-*`` options) and how to
tell the days a log file holds from its key."""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.piwik.errors import UnknownSite
from services.piwik.formats import FORMATS, FormatSpec
from services.piwik.parse_w3c import W3cOptions
from services.piwik.tracking import ImportOptions
from shared.errors import ConfigError

__all__ = ["FORMATS", "KeyDate", "Site", "load_sites", "parse_sites", "find_site", "make_site"]


@dataclass(frozen=True)
class KeyDate:
    """A date in log file keys (``u_ex261120.log``, ``access.log-20261121.gz``): a regex
    with groups ``year`` (2 or 4 digits), ``month`` and ``day``, and which days around
    that date the file's lines may fall on (e.g. a file rotated on the 21st holds the
    20th: ``first_offset`` -1, ``last_offset`` 0)."""

    regex: re.Pattern[str]
    first_offset: int = -1
    last_offset: int = 1

    def days(self, key: str) -> tuple[date, date] | None:
        """The first and last day the file may hold lines of, or None (no date in key)."""
        match = self.regex.search(key)
        if match is None:
            return None
        year = int(match["year"])
        try:
            day = date(year + 2000 if year < 100 else year, int(match["month"]), int(match["day"]))
        except ValueError:
            return None
        return (
            date.fromordinal(day.toordinal() + self.first_offset),
            date.fromordinal(day.toordinal() + self.last_offset),
        )


@dataclass(frozen=True)
class Site:
    """One site: its name, Matomo idSite, where its logs are and how to read them."""

    name: str
    id_site: int
    prefix: str
    key_regex: re.Pattern[str]
    log_format: FormatSpec
    timezone: ZoneInfo
    main_url: str
    encoding: str = "utf-8"
    options: ImportOptions = field(default_factory=ImportOptions)
    key_date: KeyDate | None = None


_FLAGS = {
    "enable_static": "static",
    "enable_bots": "bots",
    "enable_http_errors": "http_errors",
    "enable_http_redirects": "http_redirects",
}


def _flag(raw: dict, name: str) -> bool:
    value = raw.get(name, True)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _key_date(raw: object) -> KeyDate | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"regex": raw}
    if not isinstance(raw, dict) or "regex" not in raw:
        raise ValueError("key_date must be a regex or {regex, first_offset, last_offset}")
    regex = re.compile(str(raw["regex"]))
    missing = {"year", "month", "day"} - set(regex.groupindex)
    if missing:
        raise ValueError(
            f"key_date regex needs the groups year, month and day (no {', '.join(sorted(missing))})"
        )
    first, last = int(raw.get("first_offset", -1)), int(raw.get("last_offset", 1))
    if first > last:
        raise ValueError("key_date first_offset is after last_offset")
    return KeyDate(regex, first, last)


def _encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None


def make_site(
    name: str,
    id_site: int,
    *,
    log_format: str = "auto",
    regex: str | None = None,
    date_format: str | None = None,
    w3c_fields: str | None = None,
    w3c_field_map: dict[str, str] | None = None,
    w3c_time_taken_ms: bool = False,
    timezone: str = "UTC",
    main_url: str | None = None,
    encoding: str = "utf-8",
    options: ImportOptions | None = None,
    prefix: str | None = None,
    key_regex: str = r".*",
    key_date: object = None,
) -> Site:
    """A Site from its settings (ValueError, KeyError, re.error, ZoneInfoNotFoundError on
    a bad one)."""
    if id_site < 1:
        raise ValueError("id_site must be a positive number")
    spec = FormatSpec(
        log_format,
        regex=regex,
        date_format=date_format or "%d/%b/%Y:%H:%M:%S",
        w3c=W3cOptions(w3c_fields, dict(w3c_field_map or {}), w3c_time_taken_ms),
    )
    url = main_url or f"https://{name}"
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"main_url must be an http(s) URL, not {url!r}")
    return Site(
        name=name,
        id_site=id_site,
        prefix=prefix if prefix is not None else f"{name}/",
        key_regex=re.compile(key_regex),
        log_format=spec,
        timezone=ZoneInfo(timezone),
        main_url=url.rstrip("/") if url.count("/") == 3 else url,
        encoding=_encoding(encoding),
        options=options or ImportOptions(),
        key_date=_key_date(key_date),
    )


def _site(raw: dict) -> Site:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"piwik sites: a site has no name: {raw!r}")
    try:
        map_ = raw.get("w3c_field_map") or {}
        if not isinstance(map_, dict):
            raise ValueError("w3c_field_map must map custom field names to standard ones")
        main_url = raw.get("main_url") or f"{raw.get('scheme', 'https')}://{name}"
        return make_site(
            name,
            int(raw["id_site"]),
            log_format=str(raw.get("format", "auto")),
            regex=raw.get("regex"),
            date_format=raw.get("date_format"),
            w3c_fields=raw.get("w3c_fields"),
            w3c_field_map={str(k): str(v) for k, v in map_.items()},
            w3c_time_taken_ms=bool(raw.get("w3c_time_taken_ms", False)),
            timezone=str(raw.get("timezone", "UTC")),
            main_url=str(main_url),
            encoding=str(raw.get("encoding", "utf-8")),
            options=ImportOptions(**{flag: _flag(raw, key) for key, flag in _FLAGS.items()}),
            prefix=str(raw["prefix"]) if "prefix" in raw else None,
            key_regex=str(raw.get("key_regex", r".*")),
            key_date=raw.get("key_date"),
        )
    except (KeyError, ValueError, TypeError, re.error, ZoneInfoNotFoundError) as e:
        raise ConfigError(f"piwik sites: site {name}: {type(e).__name__}: {e}") from None


def parse_sites(text: str) -> dict[str, Site]:
    """Sites from the config text: ``{"sites": [{"name", "id_site", ...}, ...]}`` (see
    docs/piwik.md for every key)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"piwik sites: not JSON: {e}") from None
    sites = [_site(raw) for raw in doc.get("sites", [])] if isinstance(doc, dict) else []
    if not sites:
        raise ConfigError("piwik sites: no sites configured")
    return {site.name: site for site in sites}


def load_sites(path: Path) -> dict[str, Site]:
    """Read and parse the sites config file (FORKLIFT_PIWIK_SITES_FILE)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"FORKLIFT_PIWIK_SITES_FILE: cannot read {path}: {e.strerror}") from None
    return parse_sites(text)


def find_site(sites: dict[str, Site], name: str) -> Site:
    """The site called ``name``, or UnknownSite listing the valid choices."""
    if name not in sites:
        raise UnknownSite(f"unknown site {name!r}; choose from: {', '.join(sorted(sites))}")
    return sites[name]
