"""Who is making a request, as every handler and service function sees it."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from central.auth.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: Role
    estates: frozenset[str] | None
    """The estates this user may see; None means every estate (system admin only)."""
    resident_id: int | None = None
    staff_id: int | None = None
    session_id: str | None = None
    """Set when authenticated by a browser session cookie (which makes CSRF checks apply)."""


SYSTEM = Principal(user_id=0, username="system", role=Role.ADMIN, estates=None)
"""The actor recorded for changes made by central itself or by command-line tools."""


PRINCIPAL = web.RequestKey("principal", Principal)
"""Where the auth middleware leaves the request's principal for the handlers."""
