"""Every API error is JSON with a message that says what to do; internal errors never leak details."""
from __future__ import annotations

import logging

import orjson
from aiohttp import web

log = logging.getLogger("central.api")


def json_error(kind: type[web.HTTPException], error: str, message: str) -> web.HTTPException:
    """An HTTP error to raise whose body is {"error": error, "message": message}."""
    return kind(text=orjson.dumps({"error": error, "message": message}).decode(), content_type="application/json")


class BadRequest(web.HTTPBadRequest):
    """A request parameter is wrong; `message` names it and what was expected."""

    def __init__(self, message: str) -> None:
        super().__init__(text=orjson.dumps({"error": "bad_request", "message": message}).decode(),
                         content_type="application/json")


def has_nul(request: web.Request) -> bool:
    """Whether the decoded path or query holds U+0000, which no id, code or filter contains (and PostgreSQL
    refuses in text)."""
    return "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.query.items())


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
    if has_nul(request):
        return web.json_response({"error": "bad_request", "message": "the URL holds a NUL character (%00); "
                                  "remove it"}, status=400)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason},
                                 status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal", "message": "internal error; see the central log"},
                                 status=500)
