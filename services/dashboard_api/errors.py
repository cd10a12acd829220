"""The dashboard_api's errors; each maps to one HTTP status and the JSON error shape."""

from __future__ import annotations

from shared.errors import ForkliftError

__all__ = [
    "DashboardError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Throttled",
    "UpstreamError",
]


class DashboardError(ForkliftError):
    """Base of the dashboard_api's errors: an HTTP status, a code and an optional field."""

    status = 500
    code = "internal"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(DashboardError):
    exit_code = 2
    status = 400
    code = "bad_request"


class Unauthorized(DashboardError):
    status = 401
    code = "unauthorized"


class Forbidden(DashboardError):
    status = 403
    code = "forbidden"


class NotFound(DashboardError):
    status = 404
    code = "not_found"


class Throttled(DashboardError):
    status = 429
    code = "throttled"


class UpstreamError(DashboardError):
    status = 502
    code = "upstream"
