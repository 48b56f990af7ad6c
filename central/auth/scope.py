"""Estate tenancy: a user sees only their estates; anything else looks like it does not exist."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import ColumnElement, true

from central.auth.principal import Principal


def allowed_estates(principal: Principal) -> frozenset[str] | None:
    """The estate codes this user may see, or None for all."""
    return principal.estates


def can_see(principal: Principal, estate: str) -> bool:
    return principal.estates is None or estate in principal.estates


def check_estate(principal: Principal, estate: str) -> None:
    """Raise 404 for an estate the user may not see: a guard of estate A learns nothing of estate B."""
    if not can_see(principal, estate):
        raise web.HTTPNotFound(text='{"error": "not_found", "message": "no such estate"}',
                               content_type="application/json")


def estate_clause(principal: Principal, column) -> ColumnElement[bool]:  # noqa: ANN001
    """A WHERE clause confining a query on `column` (an estate code column) to the user's estates."""
    if principal.estates is None:
        return true()
    return column.in_(sorted(principal.estates))
