"""The dashboard's web pages: static files under ``static/`` served at ``/`` and ``/static/``.

The pages are a client of the public JSON API (they render nothing on the server). Only the
files found under ``static/`` when the app starts are served (no path from the request
reaches the file system), each with a Content-Security-Policy that allows scripts, styles
and requests from this origin only: no inline script or style, nothing from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.dashboard_api.errors import NotFound

__all__ = ["STATIC_DIR", "CSP", "add_page_routes"]

STATIC_DIR = Path(__file__).parent / "static"
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # revalidate every time (ETag / Last-Modified), so a new release is picked up at once
    "Cache-Control": "no-cache",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def static_files(root: Path = STATIC_DIR) -> dict[str, Path]:
    """Every servable file under ``root`` by its URL path below ``/static/``."""
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


def _file_response(path: Path) -> web.FileResponse:
    return web.FileResponse(
        path, headers={**PAGE_HEADERS, "Content-Type": CONTENT_TYPES[path.suffix]}
    )


def add_page_routes(app: web.Application, root: Path = STATIC_DIR) -> None:
    """``GET /`` (the single page) and ``GET /static/{path}`` (its files)."""
    files = static_files(root)
    index = files["index.html"]

    async def page(request: web.Request) -> web.StreamResponse:
        return _file_response(index)

    async def asset(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["path"])
        if path is None:
            raise NotFound(f"no file {request.path}")
        return _file_response(path)

    app.router.add_get("/", page)
    app.router.add_get("/static/{path:.+}", asset)
