"""HTTP routes for residents, their occupancies and vehicles, and the search box."""
from __future__ import annotations

import functools

from aiohttp import web

from central.api.body import parse_body
from central.api.errors import BadRequest
from central.auth.scope import check_estate
from central.registry import estates, residents, search, vehicles
from central.registry.errors import NotFound
from central.registry.crud import add_route, estate_create, item_action, item_delete, item_update
from central.registry.http import (check_own_resident, check_query, confine, endpoint, engine, is_resident, page,
                                   page_params, path_id, principal, reply)

custom = web.RouteTableDef()
ID = r"{id:\d+}"


async def _resident(conn, request: web.Request, detail: bool = False) -> dict:  # noqa: ANN001
    """The resident of the path, if the user may see them (a resident account: only themselves)."""
    who, resident_id = principal(request), path_id(request)
    check_own_resident(who, resident_id)
    found = confine(who, await residents.get_resident(conn, resident_id, detail=detail), "resident")
    if is_resident(who):
        found.pop("notes", None)  # the office's notes about a resident are the office's
    return found


@custom.get("/estates/{estate}/residents", name="registry.residents.list")
@endpoint
async def list_residents(request: web.Request) -> web.Response:
    """Residents of the estate, a page at a time (use search to find someone)."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"cursor", "limit"})
    after, limit = page_params(request)
    async with engine(request).connect() as conn:
        await estates.get_estate(conn, estate)
        return reply(page(await residents.list_residents(conn, estate, after=after, limit=limit), limit))


@custom.get(f"/residents/{ID}", name="registry.residents.get")
@endpoint
async def get_resident(request: web.Request) -> web.Response:
    """A resident with their occupancy history and vehicles; the identity number only masked."""
    async with engine(request).connect() as conn:
        return reply(await _resident(conn, request, detail=True))


@custom.patch(f"/residents/{ID}/contact", name="registry.residents.contact")
@endpoint
async def update_contact(request: web.Request) -> web.Response:
    """Phone and e-mail: what residents may change on their own record."""
    check_own_resident(principal(request), path_id(request))
    body = await parse_body(request, residents.ContactUpdate)
    async with engine(request).begin() as conn:
        await _resident(conn, request)
        changed = await residents.update_resident(conn, principal(request), path_id(request), body)
    if is_resident(principal(request)):
        changed.pop("notes", None)
    return reply(changed)


@custom.get(f"/residents/{ID}/occupancies", name="registry.occupancies.list")
@endpoint
async def list_occupancies(request: web.Request) -> web.Response:
    async with engine(request).connect() as conn:
        await _resident(conn, request)
        return reply({"items": await residents.list_occupancies(conn, resident_id=path_id(request))})


@custom.post(f"/residents/{ID}/occupancies", name="registry.occupancies.create")
@endpoint
async def add_occupancy(request: web.Request) -> web.Response:
    """Move a resident into a unit as owner, family member or tenant."""
    body = await parse_body(request, residents.OccupancyCreate)
    async with engine(request).begin() as conn:
        await _resident(conn, request)
        return reply(await residents.add_occupancy(conn, principal(request), path_id(request), body), 201)


add_route(custom, item_action(f"/occupancies/{ID}/move-out", "registry.occupancies.move_out",
                             "End an occupancy; the record stays in the resident's history.", residents.MoveOut,
                             residents.get_occupancy, "occupancy", residents.move_out))


@custom.get("/estates/{estate}/vehicles", name="registry.vehicles.list")
@endpoint
async def list_vehicles(request: web.Request) -> web.Response:
    who, estate = principal(request), request.match_info["estate"]
    check_estate(who, estate)
    check_query(request, {"cursor", "limit"})
    after, limit = page_params(request)
    only = {who.resident_id or 0} if is_resident(who) else None
    async with engine(request).connect() as conn:
        await estates.get_estate(conn, estate)
        return reply(page(await vehicles.list_vehicles(conn, estate, only_residents=only, after=after, limit=limit),
                          limit))


@custom.post(f"/residents/{ID}/vehicles", name="registry.vehicles.create")
@endpoint
async def create_vehicle(request: web.Request) -> web.Response:
    body = await parse_body(request, vehicles.VehicleCreate)
    async with engine(request).begin() as conn:
        await _resident(conn, request)
        return reply(await vehicles.create_vehicle(conn, principal(request), path_id(request), body), 201)


async def _vehicle(conn, request: web.Request) -> dict:  # noqa: ANN001
    who = principal(request)
    found = confine(who, await vehicles.get_vehicle(conn, path_id(request)), "vehicle")
    if is_resident(who) and found["resident_id"] != who.resident_id:
        raise NotFound(f"no vehicle with id {found['id']}")
    return found


@custom.get(f"/vehicles/{ID}", name="registry.vehicles.get")
@endpoint
async def get_vehicle(request: web.Request) -> web.Response:
    async with engine(request).connect() as conn:
        return reply(await _vehicle(conn, request))


@custom.get("/estates/{estate}/search", name="registry.search")
@endpoint
async def search_estate(request: web.Request) -> web.Response:
    """?q= a name, phone (or its last 4+ digits), unit (3-1201), plate, identity or card number."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"q"})
    text = request.query.get("q", "").strip()
    if not text:
        raise BadRequest("q: give a name, phone number, unit number such as 3-1201, plate, or card number")
    if len(text) > 64:
        raise BadRequest(f"q: at most 64 characters, got {len(text)}")
    async with engine(request).connect() as conn:
        return reply(await search.search(conn, estate, text))


RESIDENT, VEHICLE = f"/residents/{ID}", f"/vehicles/{ID}"
_resident_only = functools.partial(residents.get_resident, detail=False)
routes = [
    *custom,
    estate_create("/estates/{estate}/residents", "registry.residents.create",
                  "Register a resident (they move into units through occupancies)", residents.ResidentCreate,
                  residents.create_resident),
    item_update(RESIDENT, "registry.residents.update", "Change a resident's details", residents.ResidentUpdate,
                _resident_only, "resident", residents.update_resident),
    item_delete(RESIDENT, "registry.residents.delete", "Remove a resident entered by mistake (never one with history)",
                _resident_only, "resident", residents.delete_resident),
    item_update(VEHICLE, "registry.vehicles.update", "Change a vehicle or give it to another resident",
                vehicles.VehicleUpdate, vehicles.get_vehicle, "vehicle", vehicles.update_vehicle),
    item_delete(VEHICLE, "registry.vehicles.delete", "Remove a vehicle", vehicles.get_vehicle, "vehicle",
                vehicles.delete_vehicle),
]
