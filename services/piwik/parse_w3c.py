"""W3C extended logs and their dialects (IIS, CloudFront, Shoutcast, Incapsula, Netscaler):
the ``#Fields:`` directive names the columns, in any order; each known field has the
shape of its values, unknown ones are a token or a quoted string. The dialect decides
what some fields mean (IIS: time-taken in ms, Shoutcast: ``c-status``, CloudFront:
``x-host-header``, user agents percent-encoded...). No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from services.piwik.dates import W3C_DATE
from services.piwik.parse_regex import Hooks, RegexFormat, unquote_twice

__all__ = [
    "W3C_VARIANTS",
    "W3cOptions",
    "W3cVariant",
    "fields_of",
    "w3c_format",
    "pick_variant",
]

FIELDS_PREFIX = "#Fields:"

# Field -> the shape of its values, as a regex capturing what import_logs.py reads.
_BASE: dict[str, str] = {
    "date": r'"?(?P<date>\d[-+\d]+)"?',
    "time": r'"?(?P<time>[\d+:]+)[.\d]*"?',
    "cs-uri-stem": r"(?P<path>/\S*)",
    "cs-uri-query": r"(?P<query_string>\S*)",
    "c-ip": r'"?(?P<ip>[\w*.:-]*)"?',
    "cs(User-Agent)": r'(?P<user_agent>(?>"[^"]*"|\S*))',
    "cs(Referer)": r"(?P<referrer>\S+)",
    "sc-status": r"(?P<status>\d+)",
    "sc-bytes": r"(?P<length>\S+)",
    "cs-host": r"(?P<host>\S+)",
    "cs-method": r"(?P<method>\S+)",
    "cs-username": r"(?P<userid>\S+)",
    "time-taken": r"(?P<generation_time_secs>[.\d]+)",
}
# Atomic: once a quoted string (or a token) is read it is not read again another way, or
# the alternatives of every field of a 40-field line would be tried (for ever).
_TOKEN_OR_QUOTED = r'(?>"[^"]*"|\S+)'
_MILLI = r"(?P<generation_time_milli>[.\d]+)"


@dataclass(frozen=True)
class W3cOptions:
    """A site's W3C settings: the ``#Fields:`` line for logs written without one, custom
    field names mapped to standard ones (``{"date-local": "date"}``), and whether
    ``time-taken`` is in milliseconds whatever the dialect."""

    fields_line: str | None = None
    field_map: dict[str, str] = field(default_factory=dict)
    time_taken_ms: bool = False


@dataclass(frozen=True)
class W3cVariant:
    """One dialect: its field shapes, how unknown fields look, and its hooks."""

    name: str
    fields: dict[str, str]
    unknown: str = _TOKEN_OR_QUOTED
    hooks: Hooks = field(default_factory=Hooks)


W3C_VARIANTS: dict[str, W3cVariant] = {
    variant.name: variant
    for variant in (
        W3cVariant("w3c_extended", _BASE),
        W3cVariant(
            "amazon_cloudfront",
            {
                **_BASE,
                "x-event": r"(?P<event_action>\S+)",
                "x-sname": r"(?P<event_name>\S+)",
                "cs-uri-stem": r"(?:rtmp:/)?(?P<path>/\S*)",
                "c-user-agent": r'(?P<user_agent>(?>"[^"]*"|\S+))',
                # captured only so that detection prefers CloudFront for CloudFront logs
                "x-edge-location": r'(?P<x_edge_location>(?>"[^"]*"|\S+))',
                "x-edge-result-type": r'(?P<x_edge_result_type>(?>"[^"]*"|\S+))',
                "x-edge-request-id": r'(?P<x_edge_request_id>(?>"[^"]*"|\S+))',
                "x-host-header": r'(?P<host>(?>"[^"]*"|\S+))',
            },
            hooks=Hooks(
                user_agent=unquote_twice, default_status="200", event_category="cloudfront_rtmp"
            ),
        ),
        W3cVariant(
            "incapsula_w3c",
            {
                **_BASE,
                "cs-uri": r'"(?P<host>[^/\s]+)(?P<path>\S+)"',
                "cs-uri-query": r'"(?P<query_string>\S*)"',
                "c-ip": r'"(?P<ip>[\w*.:-]*)"',
                "cs(User-Agent)": r'"(?P<user_agent>[^"]*)"',
                "cs(Referer)": r'"(?P<referrer>\S+)"',
                "sc-status": r'(?P<status>"\d*")',
                "cs-bytes": r'(?P<length>"\d*")',
            },
            unknown=r'"[^"]*"',
            hooks=Hooks(default_status="200", strip_quotes=("status", "length")),
        ),
        W3cVariant(
            "iis",
            {
                **_BASE,
                "time-taken": _MILLI,
                # captured only so that detection prefers IIS for IIS logs
                "sc-win32-status": r"(?P<win32_status>\S+)",
            },
        ),
        W3cVariant(
            "shoutcast",
            {
                **_BASE,
                "c-status": r"(?P<status>\d+)",
                "x-duration": r"(?P<generation_time_secs>[.\d]+)",
            },
            hooks=Hooks(user_agent=unquote),
        ),
    )
}


def fields_of(line: str) -> list[str] | None:
    """The field names of a ``#Fields:`` directive, or None for any other line."""
    if not line.startswith(FIELDS_PREFIX):
        return None
    return line[len(FIELDS_PREFIX) :].split()


def _field_shapes(variant: W3cVariant, options: W3cOptions) -> dict[str, str]:
    shapes = dict(variant.fields)
    if options.time_taken_ms and shapes.get("time-taken") != _MILLI:
        shapes["time-taken"] = _MILLI
    for custom, standard in options.field_map.items():
        shapes[custom] = shapes.pop(standard)
    return shapes


def w3c_format(variant: W3cVariant, names: list[str], options: W3cOptions) -> RegexFormat:
    """The line format a ``#Fields:`` directive (its ``names``) defines in ``variant``
    (re.error when two of its fields fill one value, e.g. Incapsula's sc-bytes and
    cs-bytes; KeyError when ``options`` map a field the dialect does not have)."""
    shapes = _field_shapes(variant, options)
    pattern = r"\s+".join(shapes.get(name, variant.unknown) for name in names)
    return RegexFormat(variant.name, pattern, W3C_DATE, variant.hooks)


def pick_variant(
    names: list[str], first_line: str, options: W3cOptions, only: str | None = None
) -> tuple[W3cVariant, RegexFormat] | None:
    """The dialect that reads ``first_line`` under ``names`` with the most fields (ties:
    the first in W3C_VARIANTS' order, as import_logs.py's detection); ``only`` restricts
    the choice to one dialect. None when none reads it."""
    best = None
    for variant in W3C_VARIANTS.values():
        if only is not None and variant.name != only:
            continue
        try:
            line_format = w3c_format(variant, names, options)
        except (KeyError, re.error):  # a field this dialect lacks; two fields for one group
            continue
        if line_format.matches(first_line) and (
            best is None or line_format.groups > best[1].groups
        ):
            best = (variant, line_format)
    return best
