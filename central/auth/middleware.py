"""Every API request: who is it (bearer token or session cookie), may their role use this route, CSRF."""
from __future__ import annotations

import hmac

import orjson
from aiohttp import web

from central.auth import service
from central.auth.permissions import roles_for
from central.auth.principal import PRINCIPAL, Principal
from central.keys import ENGINE

SESSION_COOKIE = "estatelink_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _json_error(kind: type[web.HTTPException], error: str, message: str, **headers: str) -> web.HTTPException:
    return kind(text=orjson.dumps({"error": error, "message": message}).decode(),
                content_type="application/json", headers=headers or None)


async def authenticate(request: web.Request) -> tuple[Principal | None, str | None]:
    """The principal behind the request and, for a browser session, its CSRF token."""
    header = request.headers.get("Authorization", "")
    async with request.config_dict[ENGINE].begin() as conn:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise _json_error(web.HTTPUnauthorized, "unauthenticated",
                                  "use 'Authorization: Bearer <token>'", **{"WWW-Authenticate": "Bearer"})
            principal = await service.resolve_token(conn, token.strip())
            if principal is None:
                raise _json_error(web.HTTPUnauthorized, "unauthenticated", "the token is unknown, revoked or "
                                  "expired", **{"WWW-Authenticate": "Bearer"})
            return principal, None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = await service.resolve_session(conn, cookie)
            if found:
                return found
    return None, None


@web.middleware
async def auth_middleware(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
    name = request.match_info.route.name
    if name is None:  # no such route: let aiohttp answer 404/405
        return await handler(request)
    roles = roles_for(name)
    principal, csrf = await authenticate(request)
    request[PRINCIPAL] = principal
    if roles is None:
        return await handler(request)
    if principal is None:
        raise _json_error(web.HTTPUnauthorized, "unauthenticated",
                          "log in (POST /api/v1/auth/login) or send 'Authorization: Bearer <token>'",
                          **{"WWW-Authenticate": "Bearer"})
    if principal.role not in roles:
        raise _json_error(web.HTTPForbidden, "forbidden", f"the {principal.role} role may not use {name}")
    if csrf is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), csrf.encode()):
            raise _json_error(web.HTTPForbidden, "csrf", f"missing or wrong {CSRF_HEADER} header for this session")
    return await handler(request)
