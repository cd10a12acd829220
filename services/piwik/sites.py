"""The sites config: which logs belong to which Matomo site, in which format and timezone."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.piwik.errors import UnknownSite
from shared.errors import ConfigError

__all__ = ["FORMATS", "Site", "load_sites", "parse_sites", "find_site"]

FORMATS = ("w3c", "common", "combined", "vhost_common", "vhost_combined", "nginx_json")


@dataclass(frozen=True)
class Site:
    """One site: its name, Matomo idSite, where its logs are and how to read them."""

    name: str
    id_site: int
    prefix: str
    key_regex: re.Pattern[str]
    log_format: str
    timezone: ZoneInfo
    scheme: str = "https"


def _site(raw: dict) -> Site:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"piwik sites: a site has no name: {raw!r}")
    try:
        log_format = raw.get("format", "combined")
        if log_format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        return Site(
            name=name,
            id_site=int(raw["id_site"]),
            prefix=str(raw.get("prefix", f"{name}/")),
            key_regex=re.compile(str(raw.get("key_regex", r".*"))),
            log_format=log_format,
            timezone=ZoneInfo(str(raw.get("timezone", "UTC"))),
            scheme=str(raw.get("scheme", "https")),
        )
    except (KeyError, ValueError, TypeError, re.error, ZoneInfoNotFoundError) as e:
        raise ConfigError(f"piwik sites: site {name}: {type(e).__name__}: {e}") from None


def parse_sites(text: str) -> dict[str, Site]:
    """Sites from the config text: ``{"sites": [{"name", "id_site", "prefix", "key_regex",
    "format", "timezone", "scheme"}, ...]}``."""
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
