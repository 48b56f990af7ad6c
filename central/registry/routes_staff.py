"""HTTP routes for staff, their cards, attendance points, attendance and performance."""
from __future__ import annotations

from aiohttp import web

from central.api.body import parse_body
from central.api.errors import BadRequest
from central.auth.scope import check_estate
from central.registry import attendance, performance, sheet, staff
from central.registry.common import month_bounds
from central.registry.http import check_query, confine, endpoint, engine, path_id, principal, query_int, reply

routes = web.RouteTableDef()
ID = r"{id:\d+}"


@routes.get("/estates/{estate}/staff", name="registry.staff.list")
@endpoint
async def list_staff(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    check_query(request, {"active"})
    active = request.query.get("active")
    if active not in (None, "true", "false"):
        raise BadRequest(f"active: expected true or false, got {active!r}")
    async with engine(request).connect() as conn:
        return reply({"items": await staff.list_staff(conn, request.match_info["estate"],
                                                      active=None if active is None else active == "true")})


@routes.post("/estates/{estate}/staff", name="registry.staff.create")
@endpoint
async def create_staff(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, staff.StaffCreate)
    async with engine(request).begin() as conn:
        return reply(await staff.create_staff(conn, principal(request), request.match_info["estate"], body), 201)


@routes.get(f"/staff/{ID}", name="registry.staff.get")
@endpoint
async def get_staff(request: web.Request) -> web.Response:
    async with engine(request).connect() as conn:
        return reply(confine(principal(request), await staff.get_staff(conn, path_id(request)), "staff member"))


@routes.patch(f"/staff/{ID}", name="registry.staff.update")
@endpoint
async def update_staff(request: web.Request) -> web.Response:
    body = await parse_body(request, staff.StaffUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await staff.get_staff(conn, path_id(request)), "staff member")
        return reply(await staff.update_staff(conn, principal(request), path_id(request), body))


@routes.delete(f"/staff/{ID}", name="registry.staff.delete")
@endpoint
async def delete_staff(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await staff.get_staff(conn, path_id(request)), "staff member")
        await staff.delete_staff(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})


@routes.post(f"/staff/{ID}/cards", name="registry.staff_cards.create")
@endpoint
async def add_card(request: web.Request) -> web.Response:
    body = await parse_body(request, staff.CardCreate)
    async with engine(request).begin() as conn:
        confine(principal(request), await staff.get_staff(conn, path_id(request)), "staff member")
        return reply(await staff.add_card(conn, principal(request), path_id(request), body), 201)


@routes.delete(f"/staff-cards/{ID}", name="registry.staff_cards.delete")
@endpoint
async def remove_card(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await staff.get_card(conn, path_id(request)), "staff card")
        await staff.remove_card(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})


@routes.get("/estates/{estate}/attendance-points", name="registry.attendance_points.list")
@endpoint
async def list_points(request: web.Request) -> web.Response:
    check_estate(principal(request), request.match_info["estate"])
    async with engine(request).connect() as conn:
        return reply({"items": await attendance.list_points(conn, request.match_info["estate"])})


@routes.post("/estates/{estate}/attendance-points", name="registry.attendance_points.create")
@endpoint
async def create_point(request: web.Request) -> web.Response:
    """Flag a gateway's reader as a clock-in point (direction in, out or toggle)."""
    check_estate(principal(request), request.match_info["estate"])
    body = await parse_body(request, attendance.PointCreate)
    async with engine(request).begin() as conn:
        return reply(await attendance.create_point(conn, principal(request), request.match_info["estate"], body), 201)


@routes.patch(f"/attendance-points/{ID}", name="registry.attendance_points.update")
@endpoint
async def update_point(request: web.Request) -> web.Response:
    body = await parse_body(request, attendance.PointUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await attendance.get_point(conn, path_id(request)), "attendance point")
        return reply(await attendance.update_point(conn, principal(request), path_id(request), body))


@routes.delete(f"/attendance-points/{ID}", name="registry.attendance_points.delete")
@endpoint
async def delete_point(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await attendance.get_point(conn, path_id(request)), "attendance point")
        await attendance.delete_point(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})


@routes.get("/estates/{estate}/attendance", name="registry.attendance.sheet")
@endpoint
async def monthly_sheet(request: web.Request) -> web.Response:
    """?month=YYYY-MM[&staff=id]: first in, last out, hours and absences per staff member per day."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"month", "staff"})
    if "month" not in request.query:
        raise BadRequest("month: required, as YYYY-MM (e.g. 2026-11)")
    year, month = month_bounds(request.query["month"])
    async with engine(request).connect() as conn:
        return reply(await sheet.monthly_sheet(conn, estate, year, month, staff_id=query_int(request, "staff")))


@routes.get(f"/staff/{ID}/attendance", name="registry.attendance.list")
@endpoint
async def list_attendance(request: web.Request) -> web.Response:
    """?month=YYYY-MM: every tap and manual entry of a staff member in the month (estate days)."""
    check_query(request, {"month"})
    if "month" not in request.query:
        raise BadRequest("month: required, as YYYY-MM (e.g. 2026-11)")
    year, month = month_bounds(request.query["month"])
    async with engine(request).connect() as conn:
        confine(principal(request), await staff.get_staff(conn, path_id(request)), "staff member")
        return reply({"items": await sheet.month_records(conn, path_id(request), year, month)})


@routes.post(f"/staff/{ID}/attendance", name="registry.attendance.create")
@endpoint
async def add_attendance(request: web.Request) -> web.Response:
    """A clock-in or -out entered by hand, with the reason in `note`."""
    body = await parse_body(request, attendance.ManualEntry)
    async with engine(request).begin() as conn:
        confine(principal(request), await staff.get_staff(conn, path_id(request)), "staff member")
        return reply(await attendance.add_manual(conn, principal(request), path_id(request), body), 201)


@routes.delete(f"/attendance/{ID}", name="registry.attendance.delete")
@endpoint
async def delete_attendance(request: web.Request) -> web.Response:
    """Withdraw a wrong manual entry (reader taps stay)."""
    async with engine(request).begin() as conn:
        confine(principal(request), await attendance.get_record(conn, path_id(request)), "attendance record")
        await attendance.delete_manual(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})


@routes.get("/estates/{estate}/performance", name="registry.performance.list")
@endpoint
async def list_performance(request: web.Request) -> web.Response:
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"period", "staff"})
    period = request.query.get("period")
    if period is not None:
        month_bounds(period, "period")
    async with engine(request).connect() as conn:
        return reply({"items": await performance.list_performance(conn, estate, period=period,
                                                                  staff_id=query_int(request, "staff"))})


@routes.post(f"/staff/{ID}/performance", name="registry.performance.create")
@endpoint
async def create_performance(request: web.Request) -> web.Response:
    body = await parse_body(request, performance.PerformanceCreate)
    async with engine(request).begin() as conn:
        confine(principal(request), await staff.get_staff(conn, path_id(request)), "staff member")
        return reply(await performance.create_performance(conn, principal(request), path_id(request), body), 201)


@routes.patch(f"/performance/{ID}", name="registry.performance.update")
@endpoint
async def update_performance(request: web.Request) -> web.Response:
    body = await parse_body(request, performance.PerformanceUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await performance.get_performance(conn, path_id(request)), "performance record")
        return reply(await performance.update_performance(conn, principal(request), path_id(request), body))


@routes.delete(f"/performance/{ID}", name="registry.performance.delete")
@endpoint
async def delete_performance(request: web.Request) -> web.Response:
    async with engine(request).begin() as conn:
        confine(principal(request), await performance.get_performance(conn, path_id(request)), "performance record")
        await performance.delete_performance(conn, principal(request), path_id(request))
    return reply({"deleted": True, "id": path_id(request)})
