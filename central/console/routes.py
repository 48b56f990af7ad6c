"""Serve the console's page and its static files, with a strict content security policy."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).with_name("static")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


async def page(request: web.Request) -> web.StreamResponse:
    """The console (/console/) or one of its files; anything else is not found."""
    name = request.match_info.get("name") or "index.html"
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or not path.is_file() or path.suffix not in _TYPES:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": f"{_TYPES[path.suffix]}; charset=utf-8",
                                           "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                           "Cache-Control": "no-cache", "Referrer-Policy": "same-origin"})


async def to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


def add_routes(app: web.Application) -> None:
    """Mount the console on the main application (outside /api/v1: the page itself needs no login)."""
    app.router.add_get("/console", to_console)
    app.router.add_get("/console/", page)
    app.router.add_get("/console/{name}", page)
