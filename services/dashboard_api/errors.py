"""The dashboard_api's errors: each an :class:`shared.webapi.ApiError` with one HTTP status
and the shared JSON error shape."""

from __future__ import annotations

from shared.webapi import ApiError, BadRequest, UnsupportedMediaType

__all__ = [
    "ApiError",
    "BadRequest",
    "UnsupportedMediaType",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Throttled",
    "UpstreamError",
]


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Throttled(ApiError):
    """429 with ``Retry-After`` (whole seconds, at least 1)."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, retry_after_s: float) -> None:
        self.retry_after_s = max(1, int(-(-retry_after_s // 1)))
        super().__init__(message, headers={"Retry-After": str(self.retry_after_s)})


class UpstreamError(ApiError):
    status = 502
    code = "upstream"
