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

__all__ = ["RouteSpec", "ROUTES", "openapi_document", "aiohttp_path"]

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
    path_params: tuple[tuple[str, str], ...] = ()  # (name, "integer"|"string")


ROUTES = (
    RouteSpec("GET", "/api/health", "health", "public", "Liveness and dependencies", m.Health),
    RouteSpec(
        "POST", "/api/login", "login", "public", "Log in", m.LoginResponse, body=m.LoginRequest
    ),
    RouteSpec(
        "POST", "/api/logout", "logout", "user", "Log out (revokes the session)", m.OkResponse
    ),
    RouteSpec("GET", "/api/clients", "clients", "superuser", "Clients to pick from", m.ClientList),
    RouteSpec(
        "GET",
        "/api/campaigns",
        "campaigns",
        "user",
        "Root campaigns of a client with the 8 dashboard metrics over [start, end)",
        m.CampaignList,
        query=m.CampaignsQuery,
    ),
    RouteSpec(
        "GET",
        "/api/campaigns/{campaign_id}/series",
        "series",
        "user",
        "Hourly or daily metrics of a root campaign over [start, end)",
        m.Series,
        query=m.SeriesQuery,
        path_params=(("campaign_id", "integer"),),
    ),
    RouteSpec(
        "GET",
        "/api/edgeplorer/{fbid}",
        "edgeplorer",
        "superuser",
        "A Facebook id's user row, events and incoming edges",
        m.Edgeplorer,
        path_params=(("fbid", "integer"),),
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
        "Hits and distinct visitors per day of a web site",
        m.WebDaily,
        query=m.RangeQuery,
        path_params=(("site", "string"),),
    ),
    RouteSpec(
        "GET",
        "/api/energy/{cloud_id}",
        "energy",
        "superuser",
        "Status and latest readings of a Rainforest user",
        m.Energy,
        path_params=(("cloud_id", "string"),),
    ),
    RouteSpec(
        "GET", "/api/ops/status", "ops_status", "superuser", "Every service's status", m.OpsStatus
    ),
)

REF = "#/components/schemas/{model}"


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
        for name, kind in spec.path_params
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return params


def _operation(spec: RouteSpec) -> dict[str, Any]:
    error = {
        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=spec.response.__name__)}}
            },
        },
        "400": {"description": "Invalid input", **error},
        "500": {"description": "Internal error", **error},
    }
    if spec.access != "public":
        responses["401"] = {"description": "Not logged in", **error}
    if spec.access == "superuser":
        responses["403"] = {"description": "Superusers only", **error}
    op: dict[str, Any] = {
        "operationId": spec.handler,
        "summary": spec.summary,
        "parameters": _parameters(spec),
        "responses": responses,
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


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`ROUTES`."""
    models = {m.ErrorResponse} | {s.response for s in ROUTES} | {s.body for s in ROUTES if s.body}
    _, defs = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "forklift dashboard API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "forklift_session"},
            },
        },
    }


def aiohttp_path(spec: RouteSpec) -> str:
    """The route's path for aiohttp: integer path parameters only match digits."""
    path = spec.path
    for name, kind in spec.path_params:
        if kind == "integer":
            path = path.replace("{" + name + "}", "{" + name + r":-?\d+}")
    return path
