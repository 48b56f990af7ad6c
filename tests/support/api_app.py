"""An in-process API for route tests: one user and token per role, and the /api/v1 sub-application with the
middlewares central runs (errors, then authentication), serving the routes a test names."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.api.errors import error_middleware
from central.auth.middleware import auth_middleware
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.auth.service import NewUser, create_token, create_user, resolve_session_free_principal
from central.keys import ENGINE

PASSWORD = "Correct-Horse-Battery-7"
User = tuple[str, Role, str | None]
"""(username, role, estate or None for an admin of every estate)."""


async def role_tokens(conn: AsyncConnection, users: Iterable[User], resident_id: int | None = None) -> dict[str, str]:
    """Create each user (a resident account holds `resident_id`) and an API token for it, by username."""
    tokens = {}
    for who, role, estate in users:
        user_id = await create_user(conn, SYSTEM, NewUser(
            username=who, password=PASSWORD, role=role, estates=frozenset({estate}) if estate else frozenset(),
            resident_id=resident_id if role is Role.RESIDENT else None))
        tokens[who] = await create_token(conn, await resolve_session_free_principal(conn, user_id), "tests")
    return tokens


def api_app(engine: AsyncEngine, *add_routes: Callable[[web.Application], Any],
            routes: Iterable[web.AbstractRouteDef] = (),
            cleanup: Iterable[Callable[[web.Application], Any]] = ()) -> web.Application:
    """The application with /api/v1 serving what each `add_routes(sub)` adds, plus `routes`."""
    app = web.Application(middlewares=[error_middleware])
    app[ENGINE] = engine
    app.cleanup_ctx.extend(cleanup)
    sub = web.Application(middlewares=[error_middleware, auth_middleware])
    for add in add_routes:
        add(sub)
    sub.add_routes(list(routes))
    app.add_subapp("/api/v1", sub)
    return app
