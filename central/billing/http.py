"""What billing's routes share: estates and units the user may see (a resident only their own), query values."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.errors import BadRequest
from central.auth.scope import can_see, check_estate
from central.billing.cashier import unit_row
from central.billing.errors import NotFound
from central.billing.runner import RUNNER, BillRunner
from central.registry.common import month_bounds
from central.registry.errors import Invalid
from central.registry.http import engine, own_units, path_id, principal


def estate_of(request: web.Request) -> str:
    """The path's estate, if the user may see it (else 404)."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    return estate


async def visible_unit(conn: AsyncConnection, request: web.Request, unit_id: int) -> Any:
    """The unit, if the user may see it: its estate, and for a resident one they live in now."""
    who = principal(request)
    unit = await unit_row(conn, unit_id)
    mine = await own_units(conn, who)
    if not can_see(who, unit.estate) or (mine is not None and unit_id not in mine):
        raise NotFound(f"no unit with id {unit_id}")
    return unit


async def path_unit_id(conn: AsyncConnection, request: web.Request) -> int:
    """The id of the unit in the path, if the user may see the unit (for crud.scoped_create)."""
    return (await visible_unit(conn, request, path_id(request))).id


async def visible_record(conn: AsyncConnection, request: web.Request, record: dict[str, Any], what: str,
                         unit_key: str = "unit_id") -> dict[str, Any]:
    """A record of a unit, if the user may see that unit."""
    try:
        await visible_unit(conn, request, record[unit_key])
    except NotFound:
        raise NotFound(f"no {what} with id {record['id']}") from None
    return record


def period_query(request: web.Request, name: str = "period", required: bool = True) -> str | None:
    """A YYYY-MM query parameter."""
    value = request.query.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: give the period as YYYY-MM")
        return None
    try:
        month_bounds(value, name)
    except Invalid as exc:
        raise BadRequest(exc.message) from None
    return value


def runner_of(request: web.Request) -> BillRunner:
    """central's runner; an app without billing's cleanup context gets one that lives for the request."""
    found = request.config_dict.get(RUNNER)
    return found if found is not None else BillRunner(engine(request))
