"""HTTP routes for estates, buildings, units, parking spaces and common areas."""
from __future__ import annotations

from aiohttp import web

from central.api.body import parse_body
from central.auth.scope import allowed_estates, check_estate
from central.registry import estates, property, residents, units
from central.registry.crud import estate_create, estate_list, item_delete, item_get, item_update
from central.registry.errors import NotFound
from central.registry.http import (check_query, confine, endpoint, engine, is_resident, own_units, page,
                                   page_params, path_id, principal, reply)

custom = web.RouteTableDef()
ID = r"{id:\d+}"


@custom.get("/estates", name="registry.estates.list")
@endpoint
async def list_estates(request: web.Request) -> web.Response:
    """The estates the user may see."""
    check_query(request, set())
    async with engine(request).connect() as conn:
        return reply({"items": await estates.list_estates(conn, allowed_estates(principal(request)))})


@custom.post("/estates", name="registry.estates.create")
@endpoint
async def create_estate(request: web.Request) -> web.Response:
    body = await parse_body(request, estates.EstateCreate)
    async with engine(request).begin() as conn:
        return reply(await estates.create_estate(conn, principal(request), body), 201)


@custom.get("/estates/{estate}", name="registry.estates.get")
@endpoint
async def get_estate(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    async with engine(request).connect() as conn:
        return reply(await estates.get_estate(conn, request.match_info["estate"]))


@custom.patch("/estates/{estate}", name="registry.estates.update")
@endpoint
async def update_estate(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, estates.EstateUpdate)
    async with engine(request).begin() as conn:
        return reply(await estates.update_estate(conn, principal(request), request.match_info["estate"], body))


@custom.get("/estates/{estate}/units", name="registry.units.list")
@endpoint
async def list_units(request: web.Request) -> web.Response:
    """Units, filtered by building or status, a page at a time; a resident sees only where they live."""
    who, estate = principal(request), request.match_info["estate"]
    check_estate(who, estate)
    check_query(request, {"building", "status", "cursor", "limit"})
    after, limit = page_params(request)
    async with engine(request).connect() as conn:
        await estates.get_estate(conn, estate)
        items = await units.list_units(conn, estate, building=request.query.get("building"),
                                       status=request.query.get("status"), only=await own_units(conn, who),
                                       after=after, limit=limit)
    return reply(page(items, limit))


async def _visible_unit(conn, request: web.Request) -> dict:  # noqa: ANN001
    who, unit_id = principal(request), path_id(request)
    unit = confine(who, await units.get_unit(conn, unit_id), "unit")
    mine = await own_units(conn, who)
    if mine is not None and unit_id not in mine:
        raise NotFound(f"no unit with id {unit_id}")
    return unit


@custom.get(f"/units/{ID}", name="registry.units.get")
@endpoint
async def get_unit(request: web.Request) -> web.Response:
    """A unit; staff also see who lives there now."""
    async with engine(request).connect() as conn:
        unit = await _visible_unit(conn, request)
        if not is_resident(principal(request)):
            unit["occupants"] = [
                {k: o[k] for k in ("id", "resident_id", "resident_name", "relation", "move_in", "move_out")}
                for o in await residents.list_occupancies(conn, unit_id=unit["id"], current_only=True)]
    return reply(unit)


@custom.get(f"/units/{ID}/occupancies", name="registry.units.occupancies")
@endpoint
async def unit_occupancies(request: web.Request) -> web.Response:
    """Everyone who ever lived in the unit, oldest first."""
    async with engine(request).connect() as conn:
        unit = await _visible_unit(conn, request)
        return reply({"items": await residents.list_occupancies(conn, unit_id=unit["id"])})


BUILDING, UNIT, PARKING, AREA = f"/buildings/{ID}", f"/units/{ID}", f"/parking/{ID}", f"/common-areas/{ID}"
routes = [
    *custom,
    estate_list("/estates/{estate}/buildings", "registry.buildings.list", "Buildings of the estate",
                estates.list_buildings),
    estate_create("/estates/{estate}/buildings", "registry.buildings.create", "Add a building",
                  estates.BuildingCreate, estates.create_building),
    item_get(BUILDING, "registry.buildings.get", "A building", estates.get_building, "building"),
    item_update(BUILDING, "registry.buildings.update", "Change a building", estates.BuildingUpdate,
                estates.get_building, "building", estates.update_building),
    item_delete(BUILDING, "registry.buildings.delete", "Remove a building with no units", estates.get_building,
                "building", estates.delete_building),
    estate_create("/estates/{estate}/units", "registry.units.create", "Add a unit to a building",
                  units.UnitCreate, units.create_unit),
    item_update(UNIT, "registry.units.update", "Change a unit", units.UnitUpdate, units.get_unit, "unit",
                units.update_unit),
    item_delete(UNIT, "registry.units.delete", "Remove a unit entered by mistake (never one with history)",
                units.get_unit, "unit", units.delete_unit),
    estate_list("/estates/{estate}/parking", "registry.parking.list", "Parking spaces, by kind if asked",
                property.list_parking, query=("kind",)),
    estate_create("/estates/{estate}/parking", "registry.parking.create", "Add a parking space",
                  property.ParkingCreate, property.create_parking),
    item_get(PARKING, "registry.parking.get", "A parking space", property.get_parking, "parking space"),
    item_update(PARKING, "registry.parking.update", "Change a parking space", property.ParkingUpdate,
                property.get_parking, "parking space", property.update_parking),
    item_delete(PARKING, "registry.parking.delete", "Remove a parking space", property.get_parking,
                "parking space", property.delete_parking),
    estate_list("/estates/{estate}/common-areas", "registry.common_areas.list", "Common areas of the estate",
                property.list_common_areas),
    estate_create("/estates/{estate}/common-areas", "registry.common_areas.create", "Add a common area",
                  property.CommonAreaCreate, property.create_common_area),
    item_update(AREA, "registry.common_areas.update", "Change a common area", property.CommonAreaUpdate,
                property.get_common_area, "common area", property.update_common_area),
    item_delete(AREA, "registry.common_areas.delete", "Remove a common area", property.get_common_area,
                "common area", property.delete_common_area),
]
