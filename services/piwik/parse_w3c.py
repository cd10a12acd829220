"""W3C extended / IIS logs: the ``#Fields:`` directive names the columns, in any order;
times are UTC; ``-`` is empty; IIS writes spaces in the user agent as ``+``. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from services.piwik.hits import Hit, ParseResult

__all__ = ["parse_w3c", "fields_before"]

_REQUIRED = ("date", "time", "c-ip", "cs-uri-stem")


def fields_before(lines: list[str], fields: list[str] | None) -> list[str] | None:
    """The ``#Fields:`` in force after ``lines``, given those in force before them."""
    for line in lines:
        if line.startswith("#Fields:"):
            fields = line[8:].split()
    return fields


def _value(row: list[str], index: int | None) -> str:
    if index is None:
        return ""
    value = row[index]
    return "" if value == "-" else value


def _hit(row: list[str], at: dict[str, int | None], line_no: int) -> Hit:
    date, clock = row[at["date"]], row[at["time"]]  # type: ignore[index]
    time = datetime(
        int(date[0:4]),
        int(date[5:7]),
        int(date[8:10]),
        int(clock[0:2]),
        int(clock[3:5]),
        int(clock[6:8]),
        tzinfo=UTC,
    )
    query = _value(row, at["cs-uri-query"])
    path = _value(row, at["cs-uri-stem"]) or "/"
    status = _value(row, at["sc-status"])
    size = _value(row, at["sc-bytes"])
    return Hit(
        time,
        row[at["c-ip"]],  # type: ignore[index]
        _value(row, at["cs-method"]) or "GET",
        _value(row, at["cs-host"]),
        f"{path}?{query}" if query else path,
        int(status) if status else 200,
        int(size) if size else 0,
        _value(row, at["cs(Referer)"]),
        _value(row, at["cs(User-Agent)"]).replace("+", " "),
        line_no,
    )


def _positions(fields: list[str]) -> dict[str, int | None]:
    names = (*_REQUIRED, "cs-uri-query", "cs-method", "sc-status", "sc-bytes", "cs-host")
    at: dict[str, int | None] = {n: (fields.index(n) if n in fields else None) for n in names}
    for name in ("cs(Referer)", "cs(User-Agent)"):
        lower = [f.lower() for f in fields]
        at[name] = lower.index(name.lower()) if name.lower() in lower else None
    return at


def parse_w3c(lines: list[str], first_line_no: int, fields: list[str] | None) -> ParseResult:
    """Parse W3C lines numbered from ``first_line_no`` with the ``#Fields:`` in force before
    them (None: not seen yet; data lines before a usable header are malformed)."""
    result = ParseResult()
    at = _positions(fields) if fields else None
    width = len(fields) if fields else 0
    for line_no, line in enumerate(lines, first_line_no):
        if line.startswith("#"):
            if line.startswith("#Fields:"):
                fields = line[8:].split()
                at, width = _positions(fields), len(fields)
            continue
        if not line:
            continue
        row = line.split()
        if at is None or len(row) != width or any(at[n] is None for n in _REQUIRED):
            result.bad(line_no, line)
            continue
        try:
            result.hits.append(_hit(row, at, line_no))
        except (ValueError, IndexError):
            result.bad(line_no, line)
    return result
