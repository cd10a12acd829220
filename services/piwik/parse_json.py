"""nginx JSON lines (one object per line, nginx variable names as keys). No I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.piwik.hits import Hit, ParseResult
from services.piwik.parse_ncsa import parse_ncsa_time

__all__ = ["parse_nginx_json"]


def _time(entry: dict) -> datetime:
    if "time_iso8601" in entry:
        return datetime.fromisoformat(entry["time_iso8601"]).astimezone(UTC)
    if "msec" in entry:
        return datetime.fromtimestamp(float(entry["msec"]), UTC).replace(microsecond=0)
    return parse_ncsa_time(entry["time_local"])


def _hit(entry: dict, line_no: int) -> Hit:
    path = entry.get("request_uri")
    method = entry.get("request_method", "GET")
    if path is None:  # only "$request": "GET /x HTTP/1.1"
        method, _, rest = entry["request"].partition(" ")
        path = rest.rpartition(" ")[0] if " HTTP/" in rest else rest
    size = entry.get("body_bytes_sent", entry.get("bytes_sent", 0))
    return Hit(
        _time(entry),
        str(entry["remote_addr"]),
        str(method),
        str(entry.get("host") or entry.get("server_name") or ""),
        str(path) or "/",
        int(entry["status"]),
        int(size or 0),
        "" if entry.get("http_referer") in (None, "-") else str(entry["http_referer"]),
        "" if entry.get("http_user_agent") in (None, "-") else str(entry["http_user_agent"]),
        line_no,
    )


def parse_nginx_json(lines: list[str], first_line_no: int) -> ParseResult:
    """Parse JSON lines numbered from ``first_line_no``; malformed ones are counted."""
    result = ParseResult()
    for line_no, line in enumerate(lines, first_line_no):
        if not line:
            continue
        try:
            entry = json.loads(line)
            result.hits.append(_hit(entry, line_no))
        except (ValueError, KeyError, TypeError, AttributeError):
            result.bad(line_no, line)
    return result
