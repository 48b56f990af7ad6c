"""HTTP routes for estates, buildings, units, parking spaces and common areas."""
from __future__ import annotations

from aiohttp import web

from central.api.body import parse_body
from central.auth.scope import allowed_estates, check_estate
from central.registry import estates, property, residents, units
from central.registry.errors import NotFound
from central.registry.http import (check_query, confine, endpoint, engine, is_resident, own_units, page,
                                   page_params, path_id, principal, reply)

routes = web.RouteTableDef()
ID = r"{id:\d+}"


@routes.get("/estates", name="registry.estates.list")
@endpoint
async def list_estates(request: web.Request) -> web.Response:
    """The estates the user may see."""
    check_query(request, set())
    async with engine(request).connect() as conn:
        return reply({"items": await estates.list_estates(conn, allowed_estates(principal(request)))})


@routes.post("/estates", name="registry.estates.create")
@endpoint
async def create_estate(request: web.Request) -> web.Response:
    body = await parse_body(request, estates.EstateCreate)
    async with engine(request).begin() as conn:
        return reply(await estates.create_estate(conn, principal(request), body), 201)


@routes.get("/estates/{estate}", name="registry.estates.get")
@endpoint
async def get_estate(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    async with engine(request).connect() as conn:
        return reply(await estates.get_estate(conn, request.match_info["estate"]))


@routes.patch("/estates/{estate}", name="registry.estates.update")
@endpoint
async def update_estate(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, estates.EstateUpdate)
    async with engine(request).begin() as conn:
        return reply(await estates.update_estate(conn, principal(request), request.match_info["estate"], body))


@routes.get("/estates/{estate}/buildings", name="registry.buildings.list")
@endpoint
async def list_buildings(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    async with engine(request).connect() as conn:
        return reply({"items": await estates.list_buildings(conn, request.match_info["estate"])})


@routes.post("/estates/{estate}/buildings", name="registry.buildings.create")
@endpoint
async def create_building(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, estates.BuildingCreate)
    async with engine(request).begin() as conn:
        return reply(await estates.create_building(conn, principal(request), request.match_info["estate"], body), 201)


@routes.get(f"/buildings/{ID}", name="registry.buildings.get")
@endpoint
async def get_building(request: web.Request) -> web.Response:
    async with engine(request).connect() as conn:
        return reply(confine(principal(request), await estates.get_building(conn, path_id(request)), "building"))


@routes.patch(f"/buildings/{ID}", name="registry.buildings.update")
@endpoint
async def update_building(request: web.Request) -> web.Response:
    body = await parse_body(request, estates.BuildingUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await estates.get_building(conn, path_id(request)), "building")
        return reply(await estates.update_building(conn, principal(request), path_id(request), body))


@routes.delete(f"/buildings/{ID}", name="registry.buildings.delete")
@endpoint
async def delete_building(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await estates.get_building(conn, path_id(request)), "building")
        await estates.delete_building(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})


@routes.get("/estates/{estate}/units", name="registry.units.list")
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


@routes.post("/estates/{estate}/units", name="registry.units.create")
@endpoint
async def create_unit(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, units.UnitCreate)
    async with engine(request).begin() as conn:
        return reply(await units.create_unit(conn, principal(request), request.match_info["estate"], body), 201)


async def _visible_unit(conn, request: web.Request) -> dict:  # noqa: ANN001
    who, unit_id = principal(request), path_id(request)
    unit = confine(who, await units.get_unit(conn, unit_id), "unit")
    mine = await own_units(conn, who)
    if mine is not None and unit_id not in mine:
        raise NotFound(f"no unit with id {unit_id}")
    return unit


@routes.get(f"/units/{ID}", name="registry.units.get")
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


@routes.get(f"/units/{ID}/occupancies", name="registry.units.occupancies")
@endpoint
async def unit_occupancies(request: web.Request) -> web.Response:
    """Everyone who ever lived in the unit, oldest first."""
    async with engine(request).connect() as conn:
        unit = await _visible_unit(conn, request)
        return reply({"items": await residents.list_occupancies(conn, unit_id=unit["id"])})


@routes.patch(f"/units/{ID}", name="registry.units.update")
@endpoint
async def update_unit(request: web.Request) -> web.Response:
    body = await parse_body(request, units.UnitUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await units.get_unit(conn, path_id(request)), "unit")
        return reply(await units.update_unit(conn, principal(request), path_id(request), body))


@routes.delete(f"/units/{ID}", name="registry.units.delete")
@endpoint
async def delete_unit(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await units.get_unit(conn, path_id(request)), "unit")
        await units.delete_unit(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})


@routes.get("/estates/{estate}/parking", name="registry.parking.list")
@endpoint
async def list_parking(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    check_query(request, {"kind"})
    async with engine(request).connect() as conn:
        return reply({"items": await property.list_parking(conn, request.match_info["estate"],
                                                           kind=request.query.get("kind"))})


@routes.post("/estates/{estate}/parking", name="registry.parking.create")
@endpoint
async def create_parking(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, property.ParkingCreate)
    async with engine(request).begin() as conn:
        return reply(await property.create_parking(conn, principal(request), request.match_info["estate"], body), 201)


@routes.get(f"/parking/{ID}", name="registry.parking.get")
@endpoint
async def get_parking(request: web.Request) -> web.Response:
    async with engine(request).connect() as conn:
        return reply(confine(principal(request), await property.get_parking(conn, path_id(request)), "parking space"))


@routes.patch(f"/parking/{ID}", name="registry.parking.update")
@endpoint
async def update_parking(request: web.Request) -> web.Response:
    body = await parse_body(request, property.ParkingUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await property.get_parking(conn, path_id(request)), "parking space")
        return reply(await property.update_parking(conn, principal(request), path_id(request), body))


@routes.delete(f"/parking/{ID}", name="registry.parking.delete")
@endpoint
async def delete_parking(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await property.get_parking(conn, path_id(request)), "parking space")
        await property.delete_parking(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})


@routes.get("/estates/{estate}/common-areas", name="registry.common_areas.list")
@endpoint
async def list_common_areas(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    async with engine(request).connect() as conn:
        return reply({"items": await property.list_common_areas(conn, request.match_info["estate"])})


@routes.post("/estates/{estate}/common-areas", name="registry.common_areas.create")
@endpoint
async def create_common_area(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, property.CommonAreaCreate)
    async with engine(request).begin() as conn:
        return reply(await property.create_common_area(conn, principal(request), request.match_info["estate"], body),
                     201)


@routes.patch(f"/common-areas/{ID}", name="registry.common_areas.update")
@endpoint
async def update_common_area(request: web.Request) -> web.Response:
    body = await parse_body(request, property.CommonAreaUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await property.get_common_area(conn, path_id(request)), "common area")
        return reply(await property.update_common_area(conn, principal(request), path_id(request), body))


@routes.delete(f"/common-areas/{ID}", name="registry.common_areas.delete")
@endpoint
async def delete_common_area(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await property.get_common_area(conn, path_id(request)), "common area")
        await property.delete_common_area(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})
