"""NCSA common and combined logs, optionally prefixed with the virtual host (Apache
``vhost_combined``: ``host:port``). Split on quotes and spaces, no regex. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.piwik.hits import Hit, ParseResult

__all__ = ["parse_ncsa", "parse_ncsa_time"]

_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_offsets: dict[str, timedelta] = {}
# Busy logs repeat each second many times: parse each timestamp text once.
_times: dict[str, datetime] = {}
_TIMES_CACHE_MAX = 100_000


def parse_ncsa_time(text: str) -> datetime:
    """``10/Oct/2000:13:55:36 -0700`` -> aware UTC datetime (ValueError if malformed)."""
    offset = _offsets.get(text[21:26])
    if offset is None:
        zone = text[21:26]
        if len(zone) != 5 or zone[0] not in "+-":
            raise ValueError(f"bad timezone {zone!r}")
        minutes = int(zone[1:3]) * 60 + int(zone[3:5])
        offset = _offsets[zone] = timedelta(minutes=minutes if zone[0] == "+" else -minutes)
    local = datetime(
        int(text[7:11]),
        _MONTHS[text[3:6]],
        int(text[0:2]),
        int(text[12:14]),
        int(text[15:17]),
        int(text[18:20]),
        tzinfo=UTC,
    )
    return local - offset


def _hit(line: str, line_no: int, vhost: bool, combined: bool) -> Hit:
    parts = line.split('"')
    head = parts[0].split()
    host = ""
    if vhost:
        host = head.pop(0).partition(":")[0]
    if len(head) != 5 or not head[3].startswith("["):
        raise ValueError("bad prefix")
    method, _, rest = parts[1].partition(" ")
    path = rest.rpartition(" ")[0] if " HTTP/" in rest else rest
    status, size = parts[2].split()[:2]
    referrer = user_agent = ""
    if combined:
        if len(parts) < 6:
            raise ValueError("no referrer/user agent")
        referrer = parts[3]
        user_agent = '"'.join(parts[5:-1])  # an escaped quote inside the user agent
    stamp = head[3] + head[4]
    moment = _times.get(stamp)
    if moment is None:
        if len(_times) >= _TIMES_CACHE_MAX:
            _times.clear()
        moment = _times[stamp] = parse_ncsa_time(head[3][1:] + " " + head[4][:-1])
    return Hit(
        moment,
        head[0],
        method,
        host,
        path or "/",
        int(status),
        0 if size == "-" else int(size),
        "" if referrer == "-" else referrer,
        "" if user_agent == "-" else user_agent,
        line_no,
    )


def parse_ncsa(lines: list[str], first_line_no: int, *, vhost: bool, combined: bool) -> ParseResult:
    """Parse NCSA lines numbered from ``first_line_no``; malformed ones are counted."""
    result = ParseResult()
    append = result.hits.append
    for line_no, line in enumerate(lines, first_line_no):
        if not line:
            continue
        try:
            append(_hit(line, line_no, vhost, combined))
        except (ValueError, IndexError, KeyError):
            result.bad(line_no, line)
    return result
