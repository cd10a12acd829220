"""Route definitions: method, path, access level, pydantic models. Pure data, no I/O.

The app registers them (``api.py``) and the OpenAPI document is rendered from them
(:func:`openapi_document`), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.dashboard_api import models as m
from shared.webapi import error_responses, error_schemas

__all__ = ["RouteSpec", "ROUTES", "openapi_document"]

Access = Literal["public", "user", "superuser"]


@dataclass(frozen=True)
class RouteSpec:
    """One API route; ``handler`` names a coroutine in ``services.dashboard_api.handlers``."""

    method: str
    path: str
    handler: str
    access: Access
    summary: str
    response: type[BaseModel]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    path_params: tuple[tuple[str, dict[str, Any]], ...] = ()  # (name, JSON Schema)
    # answers besides 200, 400 (any input), 401/403 (access), 413/415 (body), 431 (all)
    errors: tuple[tuple[int, str], ...] = ()
    # answered from the response cache keyed by the data version, with ETag/Last-Modified
    # and 304 on If-None-Match (see api.py)
    cached: bool = False


ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": m.INT64_MAX}
CAMPAIGN_404 = (
    "No such campaign (or another client's), or not a root campaign: the message names"
    " the root to ask"
)


ROUTES = (
    RouteSpec("GET", "/api/health", "health", "public", "Liveness and dependencies", m.Health),
    RouteSpec(
        "POST",
        "/api/login",
        "login",
        "public",
        "Log in",
        m.LoginResponse,
        body=m.LoginRequest,
        errors=((401, "Unknown user, wrong password or inactive user"), (429, "")),
    ),
    RouteSpec(
        "POST",
        "/api/logout",
        "logout",
        "user",
        "Log out (revokes the session)",
        m.OkResponse,
        errors=((415, "A body that is not application/json"),),
    ),
    RouteSpec("GET", "/api/clients", "clients", "superuser", "Clients to pick from", m.ClientList),
    RouteSpec(
        "GET",
        "/api/campaigns",
        "campaigns",
        "user",
        "Root campaigns of a client with the 8 dashboard metrics over whole UTC hours [start, end)",
        m.CampaignList,
        query=m.CampaignsQuery,
        errors=((404, "Not one of the user's clients"),),
        cached=True,
    ),
    RouteSpec(
        "GET",
        "/api/campaigns/{campaign_id}",
        "campaign",
        "user",
        "The 8 dashboard metrics of one root campaign over whole UTC hours [start, end)",
        m.Campaign,
        query=m.RangeQuery,
        path_params=(("campaign_id", ID_SCHEMA),),
        errors=((404, CAMPAIGN_404),),
        cached=True,
    ),
    RouteSpec(
        "GET",
        "/api/campaigns/{campaign_id}/series",
        "series",
        "user",
        "Hourly or daily metrics of a root campaign over [start, end) on UTC hours or days",
        m.Series,
        query=m.SeriesQuery,
        path_params=(("campaign_id", ID_SCHEMA),),
        errors=((404, CAMPAIGN_404),),
        cached=True,
    ),
    RouteSpec(
        "GET",
        "/api/edgeplorer/{fbid}",
        "edgeplorer",
        "superuser",
        "A Facebook id's user row, events and incoming edges",
        m.Edgeplorer,
        path_params=(("fbid", ID_SCHEMA),),
    ),
    RouteSpec(
        "GET",
        "/api/internal/events",
        "internal_events",
        "superuser",
        "Event counts by type, hour and campaign since a time",
        m.EventCounts,
        query=m.SinceQuery,
    ),
    RouteSpec(
        "GET",
        "/api/web/{site}/daily",
        "web_daily",
        "superuser",
        "Hits and distinct visitors per UTC day [start, end) of a web site",
        m.WebDaily,
        query=m.RangeQuery,
        path_params=(("site", {"type": "string", "pattern": f"^{m.SITE_PATTERN}$"}),),
        errors=((404, "No such site (never imported)"),),
    ),
    RouteSpec(
        "GET",
        "/api/energy/{cloud_id}",
        "energy",
        "superuser",
        "Status and latest readings of a Rainforest user",
        m.Energy,
        path_params=(("cloud_id", {"type": "string", "pattern": f"^{m.CLOUD_ID_PATTERN}$"}),),
        errors=((404, "No such rainforest user"), (502, "")),
    ),
    RouteSpec(
        "GET", "/api/ops/status", "ops_status", "superuser", "Every service's status", m.OpsStatus
    ),
)

REF = "#/components/schemas/{model}"


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: an omitted parameter is the absent value, never ``null``."""
    prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
    if "anyOf" in prop:
        options = [o for o in prop["anyOf"] if o != {"type": "null"}]
        if len(options) == 1:
            prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **options[0]}
    return prop


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in spec.path_params
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _query_schema(prop),
                }
            )
    return params


def _errors(spec: RouteSpec) -> dict[str, Any]:
    errors: dict[int, str | None] = {431: None}
    if spec.path_params or spec.query is not None or spec.body is not None:
        errors[400] = "Invalid input (the field names it)"
    if spec.body is not None:
        errors.update({413: None, 415: None})
    if spec.access != "public":
        errors[401] = "Not logged in, or the session ended (logout, expiry, account change)"
    if spec.access == "superuser":
        errors[403] = "Superusers only"
    errors.update({status: text or None for status, text in spec.errors})
    return error_responses(errors)


_CACHE_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "Data version and request"},
    "Last-Modified": {"schema": {"type": "string"}, "description": "When the data changed"},
}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    ok: dict[str, Any] = {
        "description": "OK",
        "content": {
            "application/json": {"schema": {"$ref": REF.format(model=spec.response.__name__)}}
        },
    }
    responses: dict[str, Any] = {"200": ok}
    if spec.cached:
        ok["headers"] = _CACHE_HEADERS
        responses["304"] = {
            "description": "Not modified: If-None-Match holds the current ETag",
            "headers": _CACHE_HEADERS,
        }
    op: dict[str, Any] = {
        "operationId": spec.handler,
        "summary": spec.summary,
        "parameters": _parameters(spec),
        "responses": {**responses, **_errors(spec)},
    }
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=spec.body.__name__)}}
            },
        }
    if spec.access != "public":
        op["security"] = [{"bearer": []}, {"cookie": []}]
    return op


OPENAPI_OPERATION = {
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


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`ROUTES` (and of itself)."""
    models = {s.response for s in ROUTES} | {s.body for s in ROUTES if s.body}
    _, defs = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    paths["/api/openapi.json"] = {"get": OPENAPI_OPERATION}
    return {
        "openapi": "3.1.0",
        "info": {"title": "forklift dashboard API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": {**defs.get("$defs", {}), **error_schemas()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "forklift_session"},
            },
        },
    }
