"""DynamoDB items -> warehouse rows, item sizes and read capacity (pure, no I/O).

Items arrive in the low-level wire format (``{"fbid": {"N": "1"}}``). Conversion never
raises on odd attributes: a bad value becomes NULL and a reason is returned so the caller
counts and logs it; an item without a usable key is skipped.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

from services.dynamo_pump.schema import (
    EDGE_INT_COLUMNS,
    EDGES,
    USER_INT_COLUMNS,
    USER_TEXT_COLUMNS,
    USERS,
)

__all__ = ["Converted", "user_row", "edge_row", "blank_user_row", "item_size_bytes", "read_units"]

RCU_BYTES = 4096
Converted = tuple[tuple[Any, ...] | None, list[str]]


def _plain(value: dict[str, Any]) -> Any:
    """One wire-format value as a Python value (sets/lists/maps kept as Python containers)."""
    [(kind, raw)] = value.items()
    if kind in ("S", "N", "B"):
        return raw
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind in ("SS", "NS", "BS"):
        return sorted(str(v) for v in raw)
    if kind == "L":
        return [_plain(v) for v in raw]
    if kind == "M":
        return {k: _plain(v) for k, v in raw.items()}
    raise ValueError(f"unknown type {kind}")


def _text(value: Any, max_chars: int) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text.replace("\x00", "")[:max_chars]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    if number is None or abs(number) >= 2**31:
        return None
    return int(number)


def _epoch(value: Any) -> datetime | None:
    number = _number(value)
    if number is None or number <= 0 or number > 32503680000:  # year 3000
        return None
    return datetime.fromtimestamp(number, UTC)


def _birthday(value: Any) -> date | None:
    moment = _epoch(value)
    return moment.date() if moment is not None else None


def _attributes(item: dict[str, Any], reasons: list[str]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for name, value in item.items():
        try:
            plain[name] = _plain(value)
        except (ValueError, TypeError, AttributeError):
            reasons.append(f"unreadable:{name}")
    return plain


def _converted(plain: dict[str, Any], name: str, value: Any, reasons: list[str]) -> Any:
    if plain.get(name) is not None and value is None:
        reasons.append(f"bad:{name}")
    return value


def user_row(item: dict[str, Any], now: datetime, max_chars: int = 4096) -> Converted:
    """A users row (in USERS column order) from a DynamoDB user item, and the reasons of
    every value that had to be dropped or cleaned. ``None`` row: no usable fbid."""
    reasons: list[str] = []
    plain = _attributes(item, reasons)
    fbid = _int_key(plain.get("fbid"))
    if fbid is None:
        return None, [*reasons, "bad:fbid"]
    values: dict[str, Any] = {"fbid": fbid, "fetched_at": now, "not_found": False}
    for name in USER_TEXT_COLUMNS:
        text = _text(plain.get(name), max_chars)
        if text is not None and len(str(plain[name])) > max_chars:
            reasons.append(f"cut:{name}")
        values[name] = text
    for name in USER_INT_COLUMNS:
        values[name] = _converted(plain, name, _int(plain.get(name)), reasons)
    timeline = plain.get("has_timeline")
    values["has_timeline"] = timeline if isinstance(timeline, bool) else _flag(timeline)
    values["birthday"] = _birthday(plain.get("birthday"))  # 0 or junk -> NULL
    values["profile_update_time"] = _converted(
        plain, "profile_update_time", _epoch(plain.get("profile_update_time")), reasons
    )
    values["updated"] = _epoch(plain.get("updated")) or now
    return tuple(values[c] for c in USERS.column_names), reasons


def _flag(value: Any) -> bool | None:
    number = _number(value)
    return None if number is None else number != 0


def _int_key(value: Any) -> int | None:
    number = _number(value)
    if number is None or number <= 0 or number != int(number) or number >= 2**63:
        return None
    return int(number)


def blank_user_row(fbid: int, now: datetime) -> tuple[Any, ...]:
    """The row stored for a user DynamoDB does not have (re-checked after a week)."""
    values = {name: None for name in USERS.column_names}
    values.update(fbid=fbid, fetched_at=now, not_found=True)
    return tuple(values.values())


def edge_row(item: dict[str, Any], now: datetime) -> Converted:
    """An edges row (in EDGES column order) from a DynamoDB edge item, and the reasons."""
    reasons: list[str] = []
    plain = _attributes(item, reasons)
    target, source = _int_key(plain.get("fbid_target")), _int_key(plain.get("fbid_source"))
    if target is None or source is None:
        return None, [*reasons, "bad:key"]
    values: dict[str, Any] = {"fbid_target": target, "fbid_source": source, "fetched_at": now}
    for name in EDGE_INT_COLUMNS:
        values[name] = _converted(plain, name, _int(plain.get(name)), reasons)
    values["updated"] = _epoch(plain.get("updated")) or now
    return tuple(values[c] for c in EDGES.column_names), reasons


def _value_size(value: dict[str, Any]) -> int:
    [(kind, raw)] = value.items()
    if kind in ("S", "B"):
        return len(raw.encode() if isinstance(raw, str) else raw)
    if kind == "N":
        return len(raw) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in raw)
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in raw)
    return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in raw.items())


def item_size_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (the documented approximation)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def read_units(size_bytes: int, *, consistent: bool = False) -> float:
    """RCU charged for reading ``size_bytes`` (4 KB units; eventually consistent = half)."""
    units = max(1, math.ceil(size_bytes / RCU_BYTES))
    return units if consistent else units * 0.5
