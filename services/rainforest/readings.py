"""Pure logic: parse gateway replies into normalized readings, poll timing, file and key names."""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any
from xml.sax.saxutils import unescape

from services.rainforest.errors import BadCredentials, BadReply

__all__ = [
    "EAGLE_EPOCH_OFFSET_S",
    "parse_relay_reply",
    "reading_line",
    "reading_from_eagle200",
    "get_wait_time",
    "hour_changed",
    "log_file_name",
    "log_file_of",
    "s3_key",
    "dedupe_key",
]

# EAGLE TimeStamp counts seconds since 2000-01-01T00:00:00Z.
EAGLE_EPOCH_OFFSET_S = 946_684_800

# The relay's reply is one flat element of leaf fields. It is read with two regular
# expressions instead of an XML tree (a quarter of the CPU): the root element must open the
# document (after an optional declaration and comments) and close it, and every field is a
# leaf ``<Name>text</Name>``.
_ROOT_RE = re.compile(
    r"\A\ufeff?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<([A-Za-z_][\w.-]*)\s*(/?)>", re.S
)
_FIELD_RE = re.compile(r"<([A-Za-z_][\w.-]*)\s*>([^<]*)</\1\s*>")
# The fields a reading is made of, as the relay sends them.
_DEMAND_FIELDS = ("DeviceMacId", "MeterMacId", "TimeStamp", "Demand", "Multiplier", "Divisor")
# The relay's usual reply in one match (5.4 -> 3.4 us a reply on the poll path): those fields in
# that order, each a 0x hex number, then leaf fields of other names. Whatever it matches,
# the two expressions above read the same; whatever it does not is read by them.
_CANONICAL_RE = re.compile(
    r"\s*<InstantaneousDemand>\s*"
    + "".join(rf"<{name}>\s*0x([0-9A-Fa-f]+)\s*</{name}>\s*" for name in _DEMAND_FIELDS)
    + rf"(?:<(?!(?:{'|'.join(_DEMAND_FIELDS)})>)([A-Za-z_][\w.-]*)>[^<]*</\7>\s*)*"
    + r"</InstantaneousDemand>\s*"
)


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with seconds precision and +00:00."""
    return iso_at(math.floor(ts.timestamp()))


@functools.lru_cache(maxsize=1024)
def iso_at(unix_s: int) -> str:
    """:func:`iso` of a Unix second; cached, as a poller formats the same few seconds (now, and
    its gateways' clocks) thousands of times."""
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="seconds")


def _relay_fields(body: str) -> tuple[str, dict[str, str]]:
    """(root tag, leaf fields) of a relay reply; BadReply unless it is one whole element."""
    match = _ROOT_RE.match(body)
    if match is None:
        raise BadReply(f"not XML: {body[:40]!r}")
    root, empty = match.groups()
    if empty:
        return root, {}
    if not body.rstrip().endswith(f"</{root}>"):
        raise BadReply(f"not XML: <{root}> is not closed")
    return root, dict(_FIELD_RE.findall(body, match.end()))


def _hex(fields: dict[str, str], name: str) -> int:
    text = fields.get(name)
    if text is None:
        raise BadReply(f"reply has no {name}")
    try:
        return int(text.strip(), 16)
    except ValueError:
        raise BadReply(f"{name} is not hex: {text[:40]!r}") from None


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def demand_kw(demand: int, multiplier: int, divisor: int) -> float:
    """Demand x Multiplier / Divisor in kW; Demand is signed 32-bit, 0 multiplier/divisor -> 1."""
    return _signed32(demand) * (multiplier or 1) / (divisor or 1)


def _demand_values(body: str) -> list[int]:
    """The ``_DEMAND_FIELDS`` of a relay reply, in that order; BadCredentials or BadReply
    for an error reply or anything else."""
    match = _CANONICAL_RE.fullmatch(body)
    if match is not None:
        return [int(text, 16) for text in match.group(1, 2, 3, 4, 5, 6)]
    root, fields = _relay_fields(body)
    if root == "Error":
        text = unescape(fields.get("Text", "")).strip()
        if "password" in text.lower() or "auth" in text.lower() or "user" in text.lower():
            raise BadCredentials(text or "relay rejected the credentials")
        raise BadReply(f"relay error: {text[:200]}")
    if root != "InstantaneousDemand":
        raise BadReply(f"unexpected reply <{root}>")
    return [_hex(fields, name) for name in _DEMAND_FIELDS]


def parse_relay_reply(cloud_id: str, body: str, received_at: datetime) -> dict[str, Any]:
    """The legacy cloud relay's ``<InstantaneousDemand>`` reply as a normalized reading."""
    device, meter, stamp, demand, multiplier, divisor = _demand_values(body)
    return {
        "cloud_id": cloud_id,
        "meter_mac": f"0x{meter:016x}",
        "device_mac": f"0x{device:016x}",
        "eagle_time": iso_at(stamp + EAGLE_EPOCH_OFFSET_S),
        "received_at": iso(received_at),
        "demand_kw": demand_kw(demand, multiplier, divisor),
        "summation_delivered_kwh": None,
        "summation_received_kwh": None,
        "source": "cloud",
    }


_RELAY_KEYS = [
    "cloud_id", "meter_mac", "device_mac", "eagle_time", "received_at", "demand_kw",
    "summation_delivered_kwh", "summation_received_kwh", "source",
]  # fmt: skip
_RELAY_LINE = (
    '{"cloud_id": %s, "meter_mac": %s, "device_mac": %s, "eagle_time": %s, "received_at": %s, '
    '"demand_kw": %s, "summation_delivered_kwh": null, "summation_received_kwh": null, '
    '"source": "cloud"}'
)


def reading_line(reading: dict[str, Any]) -> str:
    """The JSONL line of a normalized reading: ``json.dumps(reading)``'s text. A reading of
    :func:`parse_relay_reply`'s shape (what a poller writes all day) is formatted from a
    template, in a third of the time; anything else, or any value of another type, by
    ``json.dumps``."""
    if reading.get("source") == "cloud" and list(reading) == _RELAY_KEYS:
        demand = reading["demand_kw"]
        if (
            reading["summation_delivered_kwh"] is None
            and reading["summation_received_kwh"] is None
            and type(demand) is float
            and math.isfinite(demand)
        ):
            try:  # encode_basestring_ascii: json.dumps's own quoting; TypeError for a non-str
                return _RELAY_LINE % (
                    encode_basestring_ascii(reading["cloud_id"]),
                    encode_basestring_ascii(reading["meter_mac"]),
                    encode_basestring_ascii(reading["device_mac"]),
                    encode_basestring_ascii(reading["eagle_time"]),
                    encode_basestring_ascii(reading["received_at"]),
                    float.__repr__(demand),
                )
            except TypeError:
                pass
    return json.dumps(reading)


def _decimal(variables: dict[str, Any], name: str) -> float | None:
    value = (variables.get(name) or {}).get("Value")
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise BadReply(f"{name} is not a number: {str(value)[:40]!r}") from None


def reading_from_eagle200(
    cloud_id: str,
    details: dict[str, Any],
    variables: dict[str, Any],
    received_at: datetime,
) -> dict[str, Any]:
    """An EAGLE-200 ``device_query`` result (aioeagle's dicts) as a normalized reading.

    EAGLE-200 values are already scaled decimal strings; LastContact is hex Unix seconds.
    The hub exposes no MAC of its own in the local API, so ``device_mac`` is None."""
    try:
        meter_mac = f"0x{int(details['HardwareAddress'], 16):016x}"
        eagle_s = int(details["LastContact"], 16)
    except (KeyError, TypeError, ValueError) as e:
        raise BadReply(f"device details lack {e}") from None
    demand = _decimal(variables, "zigbee:InstantaneousDemand")
    if demand is None:
        raise BadReply("device_query has no zigbee:InstantaneousDemand")
    return {
        "cloud_id": cloud_id,
        "meter_mac": meter_mac,
        "device_mac": None,
        "eagle_time": iso_at(eagle_s),
        "received_at": iso(received_at),
        "demand_kw": demand,
        "summation_delivered_kwh": _decimal(variables, "zigbee:CurrentSummationDelivered"),
        "summation_received_kwh": _decimal(variables, "zigbee:CurrentSummationReceived"),
        "source": "eagle200",
    }


def dedupe_key(reading: dict[str, Any]) -> str:
    """Two readings with the same key are the same measurement (logged once)."""
    return f"{reading['cloud_id']}|{reading['meter_mac']}|{reading['eagle_time']}"


def get_wait_time(last_s: float | None, now_s: float, period_s: float = 6.0) -> float:
    """Seconds to wait before the next poll: period - (now - last) if positive, else 0."""
    if last_s is None:
        return 0.0
    wait_s = period_s - (now_s - last_s)
    return wait_s if wait_s > 0 else 0.0


def hour_changed(previous: datetime | None, current: datetime) -> bool:
    """Whether ``current`` falls in another UTC hour file than ``previous`` (None: no)."""
    if previous is None:
        return False
    return previous.astimezone(UTC).strftime("%Y%m%d%H") != current.astimezone(UTC).strftime(
        "%Y%m%d%H"
    )


def log_file_name(cloud_id: str, ts: datetime) -> str:
    """Relative JSONL path of ``cloud_id``'s readings received in ``ts``'s UTC hour."""
    hour = ts.astimezone(UTC).strftime("%Y-%m-%d-%H")
    return f"{hour}/iseif-rainforest-{cloud_id}-{hour}.jl"


def log_file_of(reading: dict[str, Any]) -> str:
    """:func:`log_file_name` of a normalized reading (its ``received_at`` hour)."""
    received = reading["received_at"]
    if len(received) == 25 and received.endswith("+00:00"):  # iso(): no parsing needed
        hour = f"{received[:10]}-{received[11:13]}"
        return f"{hour}/iseif-rainforest-{reading['cloud_id']}-{hour}.jl"
    return log_file_name(reading["cloud_id"], datetime.fromisoformat(received))


def s3_key(cloud_id: str, hour_start: datetime) -> str:
    """S3 key of the gzip'd log of ``cloud_id`` for the hour starting at ``hour_start``."""
    utc = hour_start.astimezone(UTC)
    return (
        f"rainforest-logs/{cloud_id}/{utc:%Y/%m/%d}/"
        f"iseif-rainforest-{cloud_id}-{utc:%Y-%m-%d-%H}.jl.gz"
    )
