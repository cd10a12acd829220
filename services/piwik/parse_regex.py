"""Lines read by a regular expression with named groups (the text formats, W3C variants
and a site's own ``regex``), and how the groups become a :class:`Hit`, field by field as
Matomo's ``import_logs.py`` reads them. No I/O.

Groups: ``ip``, ``date`` (+ ``time``), ``timezone``, ``method``, ``host``, ``path``,
``query_string``, ``status``, ``length``, ``referrer``, ``user_agent``, ``userid``,
``generation_time_milli`` / ``_micro`` / ``_secs``, ``event_category`` / ``_action`` /
``_name``; ``ip``, ``date``, ``path`` and ``status`` are required.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from services.piwik.dates import DateParser, to_utc, tz_offset
from services.piwik.hits import Event, Hit

__all__ = ["Hooks", "RegexFormat", "REQUIRED_GROUPS", "hit_from_groups", "unquote_twice"]

REQUIRED_GROUPS = ("ip", "date", "path", "status")


def unquote_twice(text: str) -> str:
    """CloudFront writes user agents percent-encoded twice (``%2520`` for a space)."""
    return unquote(unquote(text))


@dataclass(frozen=True)
class Hooks:
    """What a format does differently from the plain reading of its groups."""

    user_agent: Callable[[str], str] | None = None  # decoding (CloudFront, Shoutcast)
    default_status: str | None = None  # when the line has no (or an empty) status
    strip_quotes: tuple[str, ...] = ()  # groups written in quotes (Incapsula)
    event_category: str | None = None  # CloudFront RTMP streaming events


PLAIN = Hooks()


def _text(value: str | None) -> str:
    """A field as sent: quotes around it dropped, ``-`` (none) and missing as empty."""
    if not value:
        return ""
    if value[0] == '"':
        value = value[1:-1]
    return "" if value == "-" else value


_GENERATION = (
    ("generation_time_milli", 1.0),
    ("generation_time_micro", 0.001),
    ("generation_time_secs", 1000.0),
)


def _generation_ms(groups: dict[str, str | None]) -> float:
    """Time taken in ms from the first usable of the milli, micro and secs groups."""
    for name, scale in _GENERATION:
        value = groups.get(name)
        if value is None:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        number = number / 1000 if scale == 0.001 else number * scale
        return number if abs(number) < float("inf") else 0.0  # NaN and inf: unknown
    return 0.0


def _length(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def hit_from_groups(
    groups: dict[str, str | None], dates: DateParser, hooks: Hooks, line_no: int
) -> Hit:
    """A hit from a match's groups (ValueError/KeyError when a required one is unusable)."""
    status = groups.get("status") or ""
    if "status" in hooks.strip_quotes:
        status = status.strip('"')
    if not status and hooks.default_status:
        status = hooks.default_status
    if not status:
        raise ValueError("no status")
    full_path = groups.get("path")
    if full_path is None:
        raise ValueError("no path")
    if "query_string" in groups:
        path, query = full_path, groups["query_string"] or ""
    else:
        path, _, query = full_path.partition("?")
    if query == "-":
        query = ""
    user_agent = groups.get("user_agent") or ""
    if hooks.user_agent is not None:
        user_agent = hooks.user_agent(user_agent)
    if user_agent.startswith('"'):
        user_agent = user_agent[1:-1]
    host = groups.get("host")
    if host is not None:
        host = host.lower().strip(".")
        if host.startswith('"'):
            host = host[1:-1]
    userid = groups.get("userid")
    if userid == "-":
        userid = None
    length = groups.get("length")
    if length is not None and "length" in hooks.strip_quotes:
        length = length.strip('"')
    date = groups.get("date")
    if date is None:
        raise ValueError("no date")
    if "time" in groups:
        date = f"{date} {groups['time']}"
    moment = to_utc(dates.parse(date), tz_offset(groups.get("timezone")))
    event = None
    category = groups.get("event_category") or hooks.event_category
    action = groups.get("event_action")
    if category and action:
        name = groups.get("event_name")
        event = Event(category, action, None if name == "-" else name)
    ip = groups.get("ip")
    if ip is None:
        raise ValueError("no ip")
    return Hit(
        moment,
        ip,
        _text(groups.get("method")),
        host,
        path,
        query,
        status,
        _length(length),
        _text(groups.get("referrer")),
        user_agent,
        userid,
        _generation_ms(groups),
        event,
        line_no,
    )


@dataclass
class RegexFormat:
    """A line format defined by a regular expression (matched at the line's start)."""

    name: str
    pattern: str
    date_format: str
    hooks: Hooks = PLAIN
    regex: re.Pattern[str] = field(init=False)
    dates: DateParser = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)
        self.dates = DateParser(self.date_format)

    @property
    def groups(self) -> int:
        """How many fields the expression captures (format detection prefers more)."""
        return self.regex.groups

    def matches(self, line: str) -> bool:
        return self.regex.match(line) is not None

    def parse(self, line: str, line_no: int) -> Hit | None:
        """The line's hit, or None when it is not in this format."""
        match = self.regex.match(line)
        if match is None:
            return None
        try:
            return hit_from_groups(match.groupdict(), self.dates, self.hooks, line_no)
        except (ValueError, KeyError, OverflowError):
            return None
