"""The HTTP edge both APIs share (dashboard_api, rainforest).

- One error shape: ``{"error": {"code", "message", "field"?}}``, raised as :class:`ApiError`.
- :func:`edge_middleware`: request id, no input reaches a handler with a control character or
  undecodable bytes in a header, the path or the query (400), every exception answered in the
  error shape (405 keeps ``Allow``), ``Cache-Control: no-store`` on every answer.
- :func:`read_json`: ``application/json`` only (415), strict UTF-8, bounded depth, digits and
  size, no duplicate keys or lone surrogates (400).
- :class:`EdgeRunner`: an ``AppRunner`` whose malformed-request answers (aiohttp's parser
  errors, before any middleware) use the same shape, say 431/414 for oversize header/URL
  lines, never echo the request and never log its bytes.
- :func:`error_responses`: the OpenAPI response objects of those errors.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from pydantic import BaseModel, Field

from shared.errors import ForkliftError
from shared.logging import get_logger

__all__ = [
    "ApiError",
    "BadRequest",
    "UnsupportedMediaType",
    "ErrorBody",
    "ErrorResponse",
    "error_response",
    "edge_middleware",
    "read_json",
    "require_json_or_empty",
    "EdgeRunner",
    "error_responses",
    "error_schemas",
    "ERROR_CODES",
    "JSON_MAX_DEPTH",
    "JSON_MAX_DIGITS",
]

log = get_logger("forklift.webapi")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON_MAX_DEPTH = 32
JSON_MAX_DIGITS = 32  # digits of a JSON number (ints and floats); int64 needs 19
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "throttled",
    431: "headers_too_large",
    500: "internal",
    502: "upstream",
    503: "unavailable",
}
# C0 controls and DEL: never valid in a header value, a path or a query parameter.
_CONTROL = frozenset(chr(c) for c in [*range(0x20), 0x7F])


class ErrorBody(BaseModel):
    code: str = Field(description="bad_request, unauthorized, forbidden, not_found, ...")
    message: str
    field: str | None = Field(None, description="The input at fault, when one is")


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(ForkliftError):
    """An answer in the error shape: HTTP status, code, message, the input at fault.
    Subclasses fix ``status``; ``status=`` builds one directly (its code from ERROR_CODES)."""

    status = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status
            self.code = ERROR_CODES[status]


class BadRequest(ApiError):
    exit_code = 2
    status = 400
    code = "bad_request"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response({"error": body}, status=status, headers=headers)


def _has_control(text: str) -> bool:
    return not _CONTROL.isdisjoint(text)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8
        return False
    return True


def _check_request(request: web.Request) -> None:
    """400 for a header, path or query parameter that is not clean UTF-8 text."""
    for name, value in request.headers.items():
        # horizontal tab is legal inside a header value
        if not _encodable(value) or _has_control(value.replace("\t", " ")):
            raise BadRequest(f"header {name} is not valid UTF-8 text", name)
    if not _encodable(request.path) or _has_control(request.path):
        raise BadRequest("the path holds a control character or bytes that are not UTF-8", "path")
    raw_query = request.rel_url.raw_query_string
    for pair in raw_query.split("&") if raw_query else ():
        raw_name, _, raw_value = pair.partition("=")
        try:
            name = unquote_to_bytes(raw_name.replace("+", " ")).decode("utf-8")
            value = unquote_to_bytes(raw_value.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the query holds bytes that are not UTF-8 text", "query") from None
        if _has_control(name) or _has_control(value):
            field = name if name and not _has_control(name) else "query"
            raise BadRequest(f"query parameter {field} holds a control character", field)


def _http_error(e: web.HTTPException) -> web.Response:
    headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
    if e.status == 404:
        message = "no such route"
    elif e.status == 405:
        message = f"method not allowed; allowed: {e.headers.get('Allow', '')}"
    elif e.status == 413:
        return error_response(413, ERROR_CODES[413], "request body too large", "body")
    else:
        message = e.reason
    return error_response(e.status, ERROR_CODES.get(e.status, "http"), message, headers=headers)


def edge_middleware(
    service: str, translate: Callable[[Exception], ApiError | None] | None = None
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The outermost middleware of ``service``'s app. ``translate`` maps the service's own
    exceptions to an ApiError (None: not one of them, answered 500 and logged)."""
    service_log = get_logger(f"forklift.{service}.api")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("X-Request-Id", "")
        sane = 0 < len(given) <= 64 and given.isascii() and given.isprintable()
        request_id = given if sane else uuid.uuid4().hex
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                _check_request(request)
                response = await handler(request)
            except ApiError as e:
                response = error_response(e.status, e.code, e.message, e.field, e.headers)
            except web.HTTPException as e:
                if e.status < 400:
                    raise
                response = _http_error(e)
            except Exception as e:  # noqa: BLE001 - the API's single catch-all
                known = translate(e) if translate is not None else None
                if known is None:
                    service_log.exception(f"{service}.api.error", error=type(e).__name__)
                    known = ApiError("internal error")
                response = error_response(
                    known.status, known.code, known.message, known.field, known.headers
                )
            service_log.info(
                f"{service}.request",
                method=request.method,
                path=request.path if _encodable(request.path) else request.raw_path,
                status=response.status,
            )
        response.headers["X-Request-Id"] = request_id
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return middleware


def _json_media_type(request: web.Request) -> bool:
    if request.content_type != "application/json":
        return False
    charset = request.charset
    return charset is None or charset.lower() in ("utf-8", "utf8")


# What an HTML form on another site can send without a CORS preflight (login CSRF).
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})


def require_json_or_empty(request: web.Request) -> None:
    """415 for a route without a body that gets one which is not JSON, or any form type
    (even empty): what a cross-site HTML form sends is never accepted."""
    if _json_media_type(request):
        return
    if request.body_exists or request.content_type in _FORM_TYPES:
        raise UnsupportedMediaType("send application/json (or no body)", "Content-Type")


def _number(limit: int, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if sum(c.isdigit() for c in text) > limit:
            raise ValueError(f"a number has more than {limit} digits")
        value = convert(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("a number is out of range")
        return value

    return parse


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("an object repeats a key")
    return result


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth and clean strings, iteratively (a deep tree must not recurse here)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise BadRequest(f"body: nested deeper than {max_depth} levels", "body")
            items = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in items)
            if isinstance(node, dict) and not all(_encodable(k) for k in node):
                raise BadRequest("body: a key is not valid Unicode text", "body")
        elif isinstance(node, str) and not _encodable(node):
            raise BadRequest("body: a string is not valid Unicode text", "body")


async def read_json(
    request: web.Request, *, max_depth: int = JSON_MAX_DEPTH, max_digits: int = JSON_MAX_DIGITS
) -> Any:
    """The request's JSON body: 415 unless ``application/json``, 413 over the app's
    ``client_max_size``, 400 for bad UTF-8, syntax, depth, number size or duplicate keys."""
    if not _json_media_type(request):
        raise UnsupportedMediaType("the body must be application/json", "Content-Type")
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
        value = json.loads(
            text,
            parse_int=_number(max_digits, int),
            parse_float=_number(max_digits, float),
            parse_constant=_no_constants,
            object_pairs_hook=_no_duplicates,
        )
    except UnicodeDecodeError:
        raise BadRequest("body: not UTF-8", "body") from None
    except RecursionError:
        raise BadRequest(f"body: nested deeper than {max_depth} levels", "body") from None
    except ValueError as e:  # JSONDecodeError and the limits above
        raise BadRequest(f"body: not valid JSON ({e})", "body") from None
    _check_tree(value, max_depth)
    return value


def _overlong_line_status(exc: BaseException) -> int:
    """431 for an oversize header line, 414 for an oversize request line (aiohttp raises
    the same LineTooLong for both; its parser callbacks name which)."""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        if "header" in name:
            return 431
        tb = tb.tb_next
    return 414


def _parse_error(status: int, exc: BaseException | None) -> tuple[int, str]:
    if isinstance(exc, LineTooLong):
        status = _overlong_line_status(exc)
        return status, "request header too large" if status == 431 else "request URL too long"
    if isinstance(exc, BadHttpMessage) and "Too many headers" in exc.message:
        return 431, "too many request headers"
    if status == 500:
        return 500, "internal error"
    if status == 504:
        return 504, "the request took too long"
    return status, "malformed HTTP request"


class _EdgeRequestHandler(RequestHandler):
    """aiohttp's connection handler with its error answer replaced: the error shape, no
    echo of the offending bytes, and a log line that holds none of them."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        status, text = _parse_error(status, exc)
        if status == 500:
            log.error("http.error", status=status, error=type(exc).__name__ if exc else None)
        else:
            log.info("http.bad_request", status=status, error=type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        response = error_response(status, ERROR_CODES.get(status, "bad_request"), text)
        response.headers["Cache-Control"] = "no-store"
        response.force_close()
        return response


class _EdgeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """``web.AppRunner`` serving with :class:`_EdgeRequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _EdgeServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


ERROR_REF = "#/components/schemas/ErrorResponse"
_DESCRIPTIONS = {
    400: "Invalid input (the field names it)",
    401: "Missing or unknown credentials",
    403: "Not allowed",
    404: "Not found",
    413: "Request body too large",
    415: "Body is not application/json",
    429: "Too many attempts; retry after Retry-After seconds",
    431: "A request header is too large",
    502: "The upstream service failed or answered garbage",
    503: "A dependency is down",
}
_HEADERS = {
    429: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
}


def error_responses(statuses: Mapping[int, str | None]) -> dict[str, Any]:
    """OpenAPI response objects in the error shape: ``{status: description or None}``."""
    out: dict[str, Any] = {}
    for status, description in sorted(statuses.items()):
        response: dict[str, Any] = {
            "description": description or _DESCRIPTIONS[status],
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
        }
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        out[str(status)] = response
    return out


def error_schemas() -> dict[str, Any]:
    """The ``components.schemas`` entries :data:`ERROR_REF` points at."""
    schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs"), "ErrorResponse": schema}
