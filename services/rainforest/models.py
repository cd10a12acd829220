"""What the rainforest API accepts and answers: the documented patterns, the validation of a
user body (pure, no I/O) and the JSON Schemas of the OpenAPI document (``openapi.py``).

Every pattern is matched whole (``re.fullmatch``, the ECMA ``^...$`` of the schema): no
trailing newline or other leftover slips through, and the schema a client reads is exactly
what the API enforces.
"""

from __future__ import annotations

import re
from typing import Any

from services.rainforest.errors import BadUserInput, UserNotFound

__all__ = [
    "ADAPTERS",
    "CLOUD_ID_PATTERN",
    "EMAIL_PATTERN",
    "SECRET_PATTERN",
    "HOST_PATTERN",
    "HOST_MAX_LENGTH",
    "TEXT_MAX_LENGTH",
    "STATUSES",
    "validate_cloud_id",
    "validate_user",
    "split_host",
    "USER_BODY_SCHEMA",
]

ADAPTERS = ("cloud", "eagle200")
STATUSES = ("pending", "ok", "backoff", "auth_failed", "error")
CLOUD_ID_PATTERN = "[0-9a-fA-F]{1,16}"
_VISIBLE = r"[^@\x00-\x20\x7f]+"
EMAIL_PATTERN = rf"{_VISIBLE}@{_VISIBLE}\.{_VISIBLE}"
SECRET_PATTERN = r"[^\x00-\x1f\x7f]+"  # sent in HTTP headers: no control characters
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
HOST_PATTERN = rf"{_LABEL}(\.{_LABEL})*(:{_PORT})?"
HOST_MAX_LENGTH = 253
TEXT_MAX_LENGTH = 256
_USER_FIELDS = ("user_email", "user_pw", "adapter", "host", "active")


def _whole(pattern: str) -> str:
    return f"^{pattern}$"


def validate_cloud_id(cloud_id: str) -> str:
    if not re.fullmatch(CLOUD_ID_PATTERN, cloud_id):
        raise BadUserInput("cloud_id", "must be 1-16 hex digits (leading zeros kept)")
    return cloud_id


def split_host(host: str) -> tuple[str, int | None]:
    """``host`` or ``host:port`` (already validated) as (name, port or None)."""
    name, _, port = host.partition(":")
    return name, int(port) if port else None


def _text(body: dict[str, Any], name: str, pattern: str, max_length: int, what: str) -> str:
    value = body[name]
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise BadUserInput(name, f"must be a non-empty string (<= {max_length} chars)")
    if not re.fullmatch(pattern, value):
        raise BadUserInput(name, f"must be {what}")
    return value


def validate_user(cloud_id: str, body: Any, existing: dict[str, str] | None) -> dict[str, str]:
    """Check a POST body (exactly :data:`USER_BODY_SCHEMA`); the hash fields to write, the
    secret still in clear text.

    On update every field is optional. A new user needs ``user_email`` and ``user_pw``: a body
    without them updates a user, and for an unknown cloud id that is UserNotFound (404).
    Naming ``adapter: eagle200`` needs ``host`` in the same body."""
    validate_cloud_id(cloud_id)
    if not isinstance(body, dict):
        raise BadUserInput("body", "must be a JSON object")
    unknown = sorted(set(body) - set(_USER_FIELDS))
    if unknown:
        raise BadUserInput(unknown[0], "unknown field")
    fields: dict[str, str] = {}
    if "user_email" in body:
        fields["user_email"] = _text(
            body, "user_email", EMAIL_PATTERN, TEXT_MAX_LENGTH, "an email address"
        )
    if "user_pw" in body:
        fields["user_pw"] = _text(
            body, "user_pw", SECRET_PATTERN, TEXT_MAX_LENGTH, "text without control characters"
        )
    if "adapter" in body:
        if body["adapter"] not in ADAPTERS:
            raise BadUserInput("adapter", f"must be one of {', '.join(ADAPTERS)}")
        fields["adapter"] = body["adapter"]
    if "host" in body:
        fields["host"] = _text(
            body,
            "host",
            HOST_PATTERN,
            HOST_MAX_LENGTH,
            "a host name or IPv4 address, :port optional",
        )
    elif body.get("adapter") == "eagle200":
        raise BadUserInput("host", "is required with the eagle200 adapter")
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise BadUserInput("active", "must be true or false")
        fields["active"] = "1" if body["active"] else "0"
    if existing is None:
        missing = [name for name in ("user_email", "user_pw") if name not in fields]
        if missing:
            raise UserNotFound(
                f"no user {cloud_id} to update; a new user needs user_email and user_pw",
                missing[0],
            )
        fields.setdefault("adapter", "cloud")
        fields.setdefault("host", "")
    return fields


def _string(pattern: str, max_length: int, min_length: int = 1) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "pattern": _whole(pattern),
    }


USER_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "user_email": _string(EMAIL_PATTERN, TEXT_MAX_LENGTH),
        "user_pw": _string(SECRET_PATTERN, TEXT_MAX_LENGTH),
        "adapter": {"type": "string", "enum": list(ADAPTERS)},
        "host": _string(HOST_PATTERN, HOST_MAX_LENGTH),
        "active": {"type": "boolean"},
    },
    "if": {"properties": {"adapter": {"const": "eagle200"}}, "required": ["adapter"]},
    "then": {"required": ["host"]},
    "description": "Create (user_email and user_pw required) or update (any subset).",
}
