"""The rainforest API's OpenAPI 3.1 document (pure data): every route, parameter and answer,
with the patterns of :mod:`services.rainforest.models`. Served at ``/api/openapi.json`` and
printed by ``forklift rainforest openapi``; the test suite fuzzes the live API against it."""

from __future__ import annotations

from typing import Any

from services.rainforest.models import (
    ADAPTERS,
    CLOUD_ID_PATTERN,
    STATUSES,
    USER_BODY_SCHEMA,
)
from shared.webapi import error_responses, error_schemas

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_MAC = {"type": "string", "pattern": "^0x[0-9a-f]{16}$"}
_TIME = {"type": "string", "format": "date-time"}
_READING = {
    "type": "object",
    "description": "A normalized reading (docs/rainforest.md).",
    "additionalProperties": False,
    "required": [
        "cloud_id",
        "meter_mac",
        "device_mac",
        "eagle_time",
        "received_at",
        "demand_kw",
        "summation_delivered_kwh",
        "summation_received_kwh",
        "source",
    ],
    "properties": {
        "cloud_id": {"type": "string", "pattern": f"^{CLOUD_ID_PATTERN}$"},
        "meter_mac": _MAC,
        "device_mac": _nullable(_MAC),
        "eagle_time": _TIME,
        "received_at": _TIME,
        "demand_kw": {"type": "number"},
        "summation_delivered_kwh": _nullable({"type": "number"}),
        "summation_received_kwh": _nullable({"type": "number"}),
        "source": {"type": "string", "enum": list(ADAPTERS)},
    },
}
_SUMMARY_PROPERTIES: dict[str, Any] = {
    "cloud_id": {"type": "string", "pattern": f"^{CLOUD_ID_PATTERN}$"},
    "user_email": _nullable({"type": "string"}),
    "adapter": _nullable({"type": "string", "enum": list(ADAPTERS)}),
    "host": _nullable({"type": "string"}),
    "active": {"type": "boolean"},
    "status": _nullable({"type": "string", "enum": list(STATUSES)}),
    "status_detail": _nullable({"type": "string"}),
    "total_events_logged": {"type": "integer", "minimum": 0},
    "first_timestamp": _nullable(_TIME),
    "last_timestamp": _nullable(_TIME),
    "last_reading": _nullable(_ref("Reading")),
}
_USER_SUMMARY = {
    "type": "object",
    "description": "A user without its secret.",
    "additionalProperties": False,
    "required": list(_SUMMARY_PROPERTIES),
    "properties": _SUMMARY_PROPERTIES,
}
_USER = {
    "type": "object",
    "description": "A user without its secret, with its 20 latest readings (newest first).",
    "additionalProperties": False,
    "required": [*_SUMMARY_PROPERTIES, "recent_readings"],
    "properties": {
        **_SUMMARY_PROPERTIES,
        "recent_readings": {"type": "array", "maxItems": 20, "items": _ref("Reading")},
    },
}
_SCHEMAS: dict[str, Any] = {
    "Reading": _READING,
    "UserSummary": _USER_SUMMARY,
    "User": _USER,
    "UserBody": USER_BODY_SCHEMA,
    "UserList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["users", "count"],
        "properties": {
            "users": {"type": "array", "items": _ref("UserSummary")},
            "count": {"type": "integer", "minimum": 0},
        },
    },
    "Deleted": {
        "type": "object",
        "additionalProperties": False,
        "required": ["deleted"],
        "properties": {"deleted": {"type": "string", "pattern": f"^{CLOUD_ID_PATTERN}$"}},
    },
    "Health": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "redis"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "redis": {"type": "string", "enum": ["ok", "unavailable"]},
            "poller": {"type": "string", "enum": ["running", "off"]},
            "poller_id": {"type": ["string", "null"], "description": "this process's poller"},
            "users_polled": {"type": "integer", "minimum": 0},
        },
    },
}
_CLOUD_ID = {
    "name": "cloud_id",
    "in": "path",
    "required": True,
    "description": "1-16 hex digits, leading zeros kept",
    "schema": {"type": "string", "pattern": f"^{CLOUD_ID_PATTERN}$"},
}
_AUTH_ERRORS = {401: None, 403: "Wrong token", 431: None}


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _operation(
    operation_id: str,
    summary: str,
    ok: str,
    errors: dict[int, str | None],
    *,
    cloud_id: bool = False,
    body: bool = False,
    public: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [_CLOUD_ID] if cloud_id else [],
        "responses": {
            "200": _ok(ok),
            **error_responses({**errors, **({431: None} if public else _AUTH_ERRORS)}),
        },
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("UserBody")}},
        }
    if not public:
        operation["security"] = [{"bearer": []}]
    return operation


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the rainforest API."""
    bad_id = {400: "Invalid cloud_id"}
    health = _operation("health", "Liveness: Redis and the poller", "Health", {}, public=True)
    health["responses"]["503"] = _ok("Health", "Redis does not answer")
    return {
        "openapi": "3.1.0",
        "info": {"title": "forklift rainforest API", "version": "1.0.0"},
        "paths": {
            "/api/health": {"get": health},
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "parameters": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **error_responses({431: None}),
                    },
                }
            },
            "/api/users": {
                "get": _operation("list_users", "Every user (no readings list)", "UserList", {})
            },
            "/api/user/{cloud_id}": {
                "post": _operation(
                    "post_user",
                    "Create or update a user (counters kept, status back to pending)",
                    "User",
                    {
                        400: "Invalid cloud_id or body field (the field names it)",
                        403: "Wrong token, or a host address outside the gateway networks",
                        404: "A body without user_email/user_pw for an unknown cloud_id",
                        413: None,
                        415: None,
                    },
                    cloud_id=True,
                    body=True,
                ),
                "get": _operation(
                    "get_user",
                    "A user and its latest readings",
                    "User",
                    {**bad_id, 404: None},
                    cloud_id=True,
                ),
                "delete": _operation(
                    "delete_user",
                    "Remove a user and its readings list",
                    "Deleted",
                    {**bad_id, 404: None},
                    cloud_id=True,
                ),
            },
            "/api/event/{cloud_id}": {
                "get": _operation(
                    "get_event",
                    "Poll the user's gateway now, log the reading, return it",
                    "Reading",
                    {**bad_id, 404: None, 502: "The gateway failed or rejected the credentials"},
                    cloud_id=True,
                )
            },
        },
        "components": {
            "schemas": {
                **_SCHEMAS,
                **error_schemas(),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
