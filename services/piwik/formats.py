"""The log formats forklift reads, by name (import_logs.py's names are accepted too), and
format detection from a file's first lines when a site does not name one. A
:class:`FormatSpec` says what a site asked for; :func:`resolve` turns it into the
concrete format of one file; :func:`line_parser` reads that file's lines. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from services.piwik.hits import Hit
from services.piwik.parse_json import JSON_FORMATS
from services.piwik.parse_ncsa import DETECTION_FIELDS, TEXT_FORMATS
from services.piwik.parse_regex import REQUIRED_GROUPS, RegexFormat
from services.piwik.parse_w3c import W3C_VARIANTS, W3cOptions, fields_of, pick_variant, w3c_format

__all__ = [
    "FORMATS",
    "ALIASES",
    "FormatSpec",
    "UnknownFormat",
    "canonical_name",
    "resolve",
    "line_parser",
    "DIRECTIVE",
]

W3C_NAMES = ("w3c", *W3C_VARIANTS, "netscaler")
FORMATS = (
    "auto",
    *TEXT_FORMATS,
    *W3C_NAMES,
    *JSON_FORMATS,
    "regex",
)
ALIASES = {
    "ncsa_extended": "combined",
    "common_vhost": "vhost_common",
    "common_complete": "vhost_combined",
    "cloudfront": "amazon_cloudfront",
    "incapsula": "incapsula_w3c",
    "alb": "elb",
}
# import_logs.py's detection order (ties go to the first).
_DETECTION_ORDER = (
    "common",
    "vhost_common",
    "combined",
    "vhost_combined",
    "s3",
    "icecast2",
    "elb",
    "traefik_json",
    "nginx_json",
    "caddy_json",
    "haproxy",
    "gandi",
)
DETECTION_LINES = 1000
DIRECTIVE = "directive"  # what a parser returns for a W3C directive line: neither hit nor bad


class UnknownFormat(ValueError):
    """No format reads the file's first lines (or a custom regex is unusable)."""


def canonical_name(name: str) -> str:
    """A format name or alias -> forklift's name; ValueError listing the choices."""
    name = ALIASES.get(name, name)
    if name not in FORMATS:
        raise ValueError(f"unknown log format {name!r}; choose from: {', '.join(FORMATS)}")
    return name


@dataclass(frozen=True)
class FormatSpec:
    """A format as a site names it: ``name`` (see FORMATS), the ``regex`` and
    ``date_format`` of a ``regex`` format, and W3C settings."""

    name: str = "auto"
    regex: str | None = None
    date_format: str = "%d/%b/%Y:%H:%M:%S"
    w3c: W3cOptions = field(default_factory=W3cOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical_name(self.name))
        if self.name == "regex":
            if not self.regex:
                raise ValueError("the regex format needs a regex")
            try:
                groups = re.compile(self.regex).groupindex
            except re.error as e:
                raise ValueError(f"bad regex: {e}") from None
            missing = [g for g in REQUIRED_GROUPS if g not in groups]
            if missing:
                raise ValueError(f"the regex has no group named {', '.join(missing)}")
        for standard in self.w3c.field_map.values():
            if not any(standard in v.fields for v in W3C_VARIANTS.values()):
                raise ValueError(f"W3C field map: unknown field {standard!r}")

    @property
    def is_w3c(self) -> bool:
        return self.name in W3C_NAMES


def _data_lines(lines: list[str]) -> list[str]:
    return [line for line in lines[:DETECTION_LINES] if line.strip() and not line.startswith("#")]


def _w3c_variant(spec: FormatSpec, lines: list[str]) -> str | None:
    """The W3C dialect of a file (from its first ``#Fields:`` and data lines)."""
    names = None
    for line in lines[:DETECTION_LINES]:
        names = fields_of(line)
        if names is not None:
            break
    if names is None and spec.w3c.fields_line:
        names = fields_of(_fields_line(spec.w3c.fields_line))
    if not names:
        return None
    only = {"netscaler": "w3c_extended", "w3c": None}.get(spec.name, spec.name)
    if spec.name == "auto":
        only = None
    for line in _data_lines(lines)[:50]:
        picked = pick_variant(names, line, spec.w3c, only)
        if picked is not None:
            return picked[0].name
    return None


def _text_format(lines: list[str]) -> str | None:
    """The text or JSON format that reads the first line any reads, with the most fields."""
    for line in _data_lines(lines):
        best, best_fields = None, 0
        for name in _DETECTION_ORDER:
            if name in JSON_FORMATS:
                if line.lstrip().startswith("{") and JSON_FORMATS[name].recognizes(line):
                    best = name
                continue
            if TEXT_FORMATS[name].matches(line) and DETECTION_FIELDS[name] > best_fields:
                best, best_fields = name, DETECTION_FIELDS[name]
        if best is not None:
            return best
    return None


def _fields_line(text: str) -> str:
    return text if text.startswith("#Fields:") else f"#Fields: {text}"


def resolve(spec: FormatSpec, first_lines: list[str]) -> FormatSpec:
    """The concrete format of a file whose first lines are ``first_lines``: ``auto`` and
    ``w3c`` detected; UnknownFormat when nothing reads them."""
    if spec.name == "auto":
        first = next((line for line in first_lines if line.strip()), "")
        if first.startswith("#") or spec.w3c.fields_line:
            variant = _w3c_variant(spec, first_lines)
            if variant is not None:
                return replace(spec, name=variant)
        detected = _text_format(first_lines)
        if detected is None:
            raise UnknownFormat("no known log format reads its first lines")
        return replace(spec, name=detected)
    if spec.name in ("w3c", "netscaler"):
        variant = _w3c_variant(spec, first_lines)
        return replace(spec, name=variant or "w3c_extended")
    return spec


class W3cParser:
    """Reads W3C lines of one dialect: ``#Fields:`` directives set the columns of the
    lines after them (a file may change them midway), other ``#`` lines are skipped."""

    def __init__(self, spec: FormatSpec, fields_line: str | None) -> None:
        self._variant = W3C_VARIANTS[spec.name if spec.name in W3C_VARIANTS else "w3c_extended"]
        self._options = spec.w3c
        self._format: RegexFormat | None = None
        self._formats: dict[str, RegexFormat | None] = {}
        line = fields_line or (_fields_line(spec.w3c.fields_line) if spec.w3c.fields_line else None)
        if line:
            self._use(line)

    def _use(self, line: str) -> None:
        names = fields_of(line) or []
        key = " ".join(names)
        if key not in self._formats:
            try:
                self._formats[key] = w3c_format(self._variant, names, self._options)
            except (KeyError, re.error):
                self._formats[key] = None  # these columns cannot be read: lines are bad
        self._format = self._formats[key]

    def parse(self, line: str, line_no: int) -> Hit | None | str:
        if line.startswith("#"):
            if line.startswith("#Fields:"):
                self._use(line)
            return DIRECTIVE
        if self._format is None:
            return None
        return self._format.parse(line, line_no)


class _JsonParser:
    def __init__(self, name: str) -> None:
        self.parse = JSON_FORMATS[name].parse


def line_parser(spec: FormatSpec, fields_line: str | None = None):
    """A parser of ``spec``'s lines (``spec`` resolved); W3C parsers start with the
    ``#Fields:`` line in force where their lines start. ``parse(line, line_no)``
    returns a Hit, None (malformed) or DIRECTIVE."""
    if spec.is_w3c:
        return W3cParser(spec, fields_line)
    if spec.name in JSON_FORMATS:
        return _JsonParser(spec.name)
    if spec.name == "regex":
        return RegexFormat("regex", spec.regex or "", spec.date_format)
    if spec.name in TEXT_FORMATS:
        return TEXT_FORMATS[spec.name]
    raise UnknownFormat(f"format {spec.name!r} must be resolved first")
