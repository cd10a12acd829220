"""JSON access logs, one object per line: nginx (import_logs.py's key names ``ip``, ``host``,
``path``, ``status``, ``referrer``, ``user_agent``, ``length``, ``generation_time_milli``
(seconds, despite its name), ``date``; or nginx's own variable names), Traefik and Caddy.
No I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.piwik.dates import ISO_DATE, NCSA_DATE, DateParser, to_utc, tz_offset
from services.piwik.hits import Hit

__all__ = ["JSON_FORMATS", "JsonFormat", "json_object"]

_iso = DateParser(ISO_DATE)
_ncsa = DateParser(NCSA_DATE)


def json_object(line: str) -> dict[str, Any] | None:
    """The line's object (nginx writes bytes it cannot print as ``\\xHH`` escapes, which
    JSON does not have: they are read as ``\\u00HH``), or None."""
    if "\\x" in line:
        line = line.replace("\\x", "\\u00")
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _iso_time(text: str) -> datetime:
    """``2013-10-10T16:52:00+02:00`` -> UTC; also with ``Z`` and fractions of a second,
    which import_logs.py rejects (see docs/piwik.md)."""
    local = _iso.parse(text[:19])
    rest = text[19:]
    micro = 0
    if rest[:1] == ".":
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        micro = int(rest[1:end][:6].ljust(6, "0")) if end > 1 else 0
        rest = rest[end:]
    if rest in ("Z", "z"):
        rest = ""
    return to_utc(local.replace(microsecond=micro), tz_offset(rest))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _ms(value: Any, multiply: float = 1.0, divide: float = 1.0) -> float:
    """A duration in ms (0 when missing or not a number), computed the way import_logs.py
    does for each format (the float results must be the same to the last bit)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    number = number * multiply if divide == 1.0 else number / divide
    return number if abs(number) < float("inf") else 0.0


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _host(value: Any) -> str | None:
    return None if value is None else str(value).lower().strip(".")


def _hit(
    line_no: int,
    moment: datetime,
    ip: Any,
    method: Any,
    host: str | None,
    full_path: Any,
    status: Any,
    length: Any,
    referrer: Any,
    user_agent: Any,
    userid: Any,
    generation_ms: float,
    query: Any = None,
) -> Hit:
    if query is None:
        path, _, query = _text(full_path).partition("?")
    else:
        path, query = _text(full_path), _text(query)
    status_text = _text(status)
    if not status_text or not path or ip is None:
        raise ValueError("no status, path or ip")
    referrer_text = _text(referrer)
    user = None if userid is None or userid == "-" else str(userid)
    return Hit(
        moment,
        str(ip),
        _text(method),
        host,
        path,
        query,
        status_text,
        _int(length),
        "" if referrer_text == "-" else referrer_text,
        _text(user_agent),
        user,
        generation_ms,
        None,
        line_no,
    )


def _nginx_variables(entry: dict[str, Any], line_no: int) -> Hit:
    """nginx's own variable names: ``remote_addr``, ``time_iso8601``/``time_local``/``msec``,
    ``request_method``, ``request_uri`` or ``request``, ``status``, ``body_bytes_sent``,
    ``http_referer``, ``http_user_agent``, ``host``, ``request_time``, ``remote_user``."""
    if "time_iso8601" in entry:
        moment = _iso_time(entry["time_iso8601"])
    elif "msec" in entry:
        moment = datetime.fromtimestamp(float(entry["msec"]), UTC)
    else:
        local, _, zone = str(entry["time_local"]).partition(" ")
        moment = to_utc(_ncsa.parse(local), tz_offset(zone))
    path = entry.get("request_uri")
    method = entry.get("request_method", "")
    if path is None:  # only "$request": "GET /x HTTP/1.1"
        method, _, rest = str(entry["request"]).partition(" ")
        path = rest.rpartition(" ")[0] if " HTTP/" in rest else rest
    host = entry.get("host", entry.get("server_name"))
    return _hit(
        line_no,
        moment,
        entry["remote_addr"],
        method,
        _host(host) if host else None,
        path,
        entry["status"],
        entry.get("body_bytes_sent", entry.get("bytes_sent")),
        entry.get("http_referer"),
        entry.get("http_user_agent"),
        entry.get("remote_user"),
        _ms(entry.get("request_time"), multiply=1000.0),
    )


def _nginx(entry: dict[str, Any], line_no: int) -> Hit:
    """import_logs.py's nginx keys, or nginx's own variable names."""
    if "date" not in entry and "ip" not in entry:
        return _nginx_variables(entry, line_no)
    # "generation_time_milli" holds seconds: import_logs.py keeps whole milliseconds
    generation = float(int(_ms(entry.get("generation_time_milli"), multiply=1000.0)))
    return _hit(
        line_no,
        _iso_time(str(entry["date"])),
        entry["ip"],
        entry.get("method"),
        _host(entry["host"]) if "host" in entry else None,
        entry["path"],
        entry["status"],
        entry.get("length"),
        entry.get("referrer"),
        entry.get("user_agent"),
        entry.get("userid"),
        generation,
        entry.get("query_string"),
    )


def _traefik(entry: dict[str, Any], line_no: int) -> Hit:
    """Traefik's access log fields; ``Duration`` is in nanoseconds."""
    return _hit(
        line_no,
        _iso_time(str(entry["time"])),
        entry.get("ClientHost", ""),
        entry.get("RequestMethod"),
        _host(entry.get("RequestHost", "")),
        entry.get("RequestPath"),
        entry.get("DownstreamStatus"),
        entry.get("DownstreamContentSize"),
        entry.get("request_Referer"),
        entry.get("request_User-Agent"),
        entry.get("ClientUsername"),
        _ms(entry.get("Duration"), divide=1e6),
    )


def _first(headers: dict[str, Any], name: str) -> Any:
    values = headers.get(name) or [None]
    return values[0] if isinstance(values, list) else values


def _caddy(entry: dict[str, Any], line_no: int) -> Hit:
    """Caddy's structured access log: ``ts`` (epoch seconds), ``request.*``, ``duration``
    (seconds), ``size``, ``status``, ``user_id``."""
    request = entry["request"]
    headers = request.get("headers") or {}
    return _hit(
        line_no,
        datetime.fromtimestamp(float(entry["ts"]), UTC),
        request.get("client_ip", request.get("remote_ip")),
        request.get("method"),
        _host(request.get("host")),
        request.get("uri"),
        entry.get("status"),
        entry.get("size"),
        _first(headers, "Referer"),
        _first(headers, "User-Agent"),
        entry.get("user_id"),
        _ms(entry.get("duration"), multiply=1000.0),
    )


class JsonFormat:
    """A JSON-lines format: how to recognize its objects and read one."""

    def __init__(self, name: str, key_sets: tuple[tuple[str, ...], ...], reader: Any) -> None:
        self.name = name
        self.key_sets = key_sets  # an object with all keys of one set is in this format
        self._reader = reader

    def recognizes(self, line: str) -> bool:
        entry = json_object(line)
        return entry is not None and any(all(k in entry for k in keys) for keys in self.key_sets)

    def parse(self, line: str, line_no: int) -> Hit | None:
        entry = json_object(line)
        if entry is None:
            return None
        try:
            return self._reader(entry, line_no)
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError, OSError):
            return None


JSON_FORMATS: dict[str, JsonFormat] = {
    "traefik_json": JsonFormat("traefik_json", (("msg", "level", "time"),), _traefik),
    "nginx_json": JsonFormat(
        "nginx_json", (("referrer", "date"), ("remote_addr", "status")), _nginx
    ),
    "caddy_json": JsonFormat("caddy_json", (("request", "user_id", "resp_headers"),), _caddy),
}
