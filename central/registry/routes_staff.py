"""HTTP routes for staff, their cards, attendance points, attendance and performance."""
from __future__ import annotations

from aiohttp import web

from central.api.errors import BadRequest
from central.auth.scope import check_estate
from central.registry import attendance, performance, sheet, staff
from central.registry.common import month_bounds
from central.registry.crud import child_create, estate_create, estate_list, item_delete, item_get, item_update
from central.registry.http import check_query, confine, endpoint, engine, path_id, principal, query_int, reply

custom = web.RouteTableDef()
ID = r"{id:\d+}"


@custom.get("/estates/{estate}/staff", name="registry.staff.list")
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


@custom.get("/estates/{estate}/attendance", name="registry.attendance.sheet")
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


@custom.get(f"/staff/{ID}/attendance", name="registry.attendance.list")
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


@custom.get("/estates/{estate}/performance", name="registry.performance.list")
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


STAFF, CARD, POINT, PERFORMANCE = f"/staff/{ID}", f"/staff-cards/{ID}", f"/attendance-points/{ID}", f"/performance/{ID}"
routes = [
    *custom,
    estate_create("/estates/{estate}/staff", "registry.staff.create", "Add a member of staff", staff.StaffCreate,
                  staff.create_staff),
    item_get(STAFF, "registry.staff.get", "A member of staff with their attendance cards", staff.get_staff,
             "staff member"),
    item_update(STAFF, "registry.staff.update", "Change a member of staff's details", staff.StaffUpdate,
                staff.get_staff, "staff member", staff.update_staff),
    item_delete(STAFF, "registry.staff.delete", "Remove a member of staff entered by mistake", staff.get_staff,
                "staff member", staff.delete_staff),
    child_create(f"{STAFF}/cards", "registry.staff_cards.create", "Give a member of staff an attendance card",
                 staff.CardCreate, staff.get_staff, "staff member", staff.add_card),
    item_delete(CARD, "registry.staff_cards.delete", "Take an attendance card back", staff.get_card, "staff card",
                staff.remove_card),
    estate_list("/estates/{estate}/attendance-points", "registry.attendance_points.list",
                "Readers whose taps are clock-ins and -outs", attendance.list_points),
    estate_create("/estates/{estate}/attendance-points", "registry.attendance_points.create",
                  "Make a reader an attendance point", attendance.PointCreate, attendance.create_point),
    item_update(POINT, "registry.attendance_points.update", "Change an attendance point", attendance.PointUpdate,
                attendance.get_point, "attendance point", attendance.update_point),
    item_delete(POINT, "registry.attendance_points.delete", "Stop treating a reader as an attendance point",
                attendance.get_point, "attendance point", attendance.delete_point),
    child_create(f"{STAFF}/attendance", "registry.attendance.create",
                 "A clock-in or -out entered by hand, with the reason in `note`", attendance.ManualEntry,
                 staff.get_staff, "staff member", attendance.add_manual),
    item_delete(f"/attendance/{ID}", "registry.attendance.delete", "Withdraw a wrong manual entry (reader taps stay)",
                attendance.get_record, "attendance record", attendance.delete_manual),
    child_create(f"{STAFF}/performance", "registry.performance.create", "Record a performance figure for a month",
                 performance.PerformanceCreate, staff.get_staff, "staff member", performance.create_performance),
    item_update(PERFORMANCE, "registry.performance.update", "Change a performance record",
                performance.PerformanceUpdate, performance.get_performance, "performance record",
                performance.update_performance),
    item_delete(PERFORMANCE, "registry.performance.delete", "Remove a performance record",
                performance.get_performance, "performance record", performance.delete_performance),
]
