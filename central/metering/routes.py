"""HTTP routes of metering (each name is in METERING in central/auth/permissions.py).

Estates confine every record: one in an estate the user may not see answers 404, like a missing one. A
resident reaches only the meter points of the units they live in now, and never a gateway binding.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.body import parse_body, read_upload
from central.api.errors import BadRequest
from central.api.params import parse_flag, parse_time
from central.auth.scope import can_see, check_estate
from central.metering import alerts, meters, points, readings, service
from central.metering.common import Instant, Period, estate_zone, period_of
from central.metering.errors import NotFound
from central.metering.importer import import_readings
from central.metering.models import KINDS
from central.registry.common import Body
from central.registry.crud import add_route, estate_create, item_update, scoped_create
from central.registry.estates import get_estate
from central.registry.http import (check_query, endpoint, engine, is_resident, own_units, page, page_params, path_id,
                                   principal, query_int, reply)
from central.transfer.tables import MAX_FILE_BYTES, FileProblem

routes = web.RouteTableDef()
ID = r"{id:\d+}"
_HIDDEN_FROM_RESIDENTS = ("gateway", "device", "register")


class PeriodBody(Body):
    month: str | None = None
    """YYYY-MM in the estate's time zone; or since and until."""
    since: Instant | None = None
    until: Instant | None = None


def add_routes(api: web.Application) -> None:
    """Mount metering on the API sub-app (the one served at /api/v1)."""
    api.add_routes(routes)


async def _point(conn: AsyncConnection, request: web.Request) -> Any:
    """The meter point of the path, if the user may see it (a resident: only one of their own units)."""
    who, point_id = principal(request), path_id(request)
    point = await points.point_row(conn, point_id)
    if not can_see(who, point.estate):
        raise NotFound(f"no meter point with id {point_id}")
    mine = await own_units(conn, who)
    if mine is not None and point.unit_id not in mine:
        raise NotFound(f"no meter point with id {point_id}")
    return point


def _estate(request: web.Request) -> str:
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    return estate


@routes.get("/estates/{estate}/meter-points", name="metering.points.list")
@endpoint
async def list_points(request: web.Request) -> web.Response:
    """Meter points, by kind or unit, a page at a time; a resident sees only their own units'."""
    estate = _estate(request)
    check_query(request, {"kind", "unit", "cursor", "limit"})
    kind = request.query.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    after, limit = page_params(request)
    async with engine(request).connect() as conn:
        await get_estate(conn, estate)
        items = await points.list_points(conn, estate, kind=kind, unit_id=query_int(request, "unit"),
                                         only_units=await own_units(conn, principal(request)), after=after,
                                         limit=limit)
    return reply(page(items, limit))


add_route(routes, estate_create("/estates/{estate}/meter-points", "metering.points.create",
                               "Add a meter point serving a unit or a common area.",
                               points.PointCreate, points.create_point))


@routes.get(f"/meter-points/{ID}", name="metering.points.get")
@endpoint
async def get_point(request: web.Request) -> web.Response:
    """A meter point with the meter fitted there now."""
    async with engine(request).connect() as conn:
        point = await _point(conn, request)
        return reply(await points.get_point(conn, point.id))


@routes.patch(f"/meter-points/{ID}", name="metering.points.update")
@endpoint
async def update_point(request: web.Request) -> web.Response:
    """Rename a meter point, change what it serves or its rules."""
    body = await parse_body(request, points.PointUpdate)
    async with engine(request).begin() as conn:
        point = await _point(conn, request)
        return reply(await points.update_point(conn, principal(request), point.id, body))


@routes.get(f"/meter-points/{ID}/meters", name="metering.meters.list")
@endpoint
async def list_meters(request: web.Request) -> web.Response:
    """Every meter fitted at the point, oldest first, with first and final readings."""
    async with engine(request).connect() as conn:
        point = await _point(conn, request)
        items = await meters.list_meters(conn, point.id)
    if is_resident(principal(request)):
        items = [{k: v for k, v in m.items() if k not in _HIDDEN_FROM_RESIDENTS} for m in items]
    return reply({"items": items})


add_route(routes, scoped_create(f"/meter-points/{ID}/meters", "metering.meters.install",
                                "Fit a meter where none is fitted; its first reading is stored.",
                                meters.MeterInstall, _point, meters.install_meter))
add_route(routes, scoped_create(f"/meter-points/{ID}/replacements", "metering.meters.replace",
                                "Replace the fitted meter: its final and the new meter's first reading, in one "
                                "transaction.", meters.MeterReplace, _point, meters.replace_meter))
add_route(routes, item_update(f"/meters/{ID}", "metering.meters.update",
                              "Change a meter's model, or bind it to a gateway device (or unbind it).",
                              meters.MeterUpdate, meters.get_meter, "meter", meters.update_meter))


@routes.get(f"/meter-points/{ID}/readings", name="metering.readings.list")
@endpoint
async def list_readings(request: web.Request) -> web.Response:
    """The point's readings taken since..until, in the order they were stored, a page at a time."""
    check_query(request, {"since", "until", "cursor", "limit"})
    since, until = parse_time("since", request.query.get("since")), parse_time("until", request.query.get("until"))
    after, limit = page_params(request)
    async with engine(request).connect() as conn:
        point = await _point(conn, request)
        items = await readings.list_readings(conn, point.id, since=since, until=until, after=after, limit=limit)
    return reply(page(items, limit))


add_route(routes, scoped_create(f"/meter-points/{ID}/readings", "metering.readings.create",
                                "Enter a reading taken by hand; flags say what looks wrong about it.",
                                readings.ManualReading, _point, readings.add_manual))
add_route(routes, item_update(f"/readings/{ID}", "metering.readings.update",
                              "Mark a reading invalid (left out of consumption) or valid again.",
                              readings.ReadingUpdate, readings.get_reading, "reading", readings.update_reading))


async def _period(conn: AsyncConnection, point: Any, month: str | None, since: Any, until: Any) -> Period:
    return period_of(month, since, until, await estate_zone(conn, point.estate))


@routes.get(f"/meter-points/{ID}/consumption", name="metering.consumption.get")
@endpoint
async def get_consumption(request: web.Request) -> web.Response:
    """Consumption over a month or since..until: ok, estimated (by the point's rule) or held, and why."""
    check_query(request, {"month", "since", "until"})
    since, until = parse_time("since", request.query.get("since")), parse_time("until", request.query.get("until"))
    async with engine(request).connect() as conn:
        point = await _point(conn, request)
        period = await _period(conn, point, request.query.get("month"), since, until)
        return reply(await service.consumption(conn, point, period))


@routes.post(f"/meter-points/{ID}/estimates", name="metering.estimates.create")
@endpoint
async def create_estimate(request: web.Request) -> web.Response:
    """Store the estimated end reading of a period the point's rule estimates."""
    body = await parse_body(request, PeriodBody)
    async with engine(request).begin() as conn:
        point = await _point(conn, request)
        period = await _period(conn, point, body.month, body.since, body.until)
        return reply(await service.store_estimate(conn, principal(request), point, period), 201)


@routes.post("/estates/{estate}/meter-readings/import", name="metering.readings.import_file")
@endpoint
async def import_file(request: web.Request) -> web.Response:
    """Check (dry_run=true) or import readings from a CSV/XLSX: all or nothing, problems by row and column."""
    estate = _estate(request)
    check_query(request, {"dry_run", "filename"})
    dry_run = parse_flag("dry_run", request.query.get("dry_run"))
    data = await read_upload(request, MAX_FILE_BYTES)
    try:
        report = await import_readings(engine(request), principal(request), estate, data,
                                       filename=request.query.get("filename"), dry_run=dry_run)
    except FileProblem as exc:
        raise BadRequest(f"file: {exc}") from None
    return reply(report.as_dict(), 200 if report.dry_run or report.written else 422)


@routes.post("/estates/{estate}/leak-check", name="metering.leaks.check")
@endpoint
async def check_leaks(request: web.Request) -> web.Response:
    """Run the night-flow leak rule on the estate's water points; alerts are raised where it fires."""
    estate = _estate(request)
    body = await parse_body(request, alerts.LeakCheckRequest)
    async with engine(request).begin() as conn:
        return reply({"items": await alerts.check_leaks(conn, principal(request), estate, body.until)})


@routes.get("/estates/{estate}/leak-alerts", name="metering.leaks.list")
@endpoint
async def list_alerts(request: web.Request) -> web.Response:
    """Leak alerts, newest first, optionally only open or closed ones."""
    estate = _estate(request)
    check_query(request, {"status"})
    status = request.query.get("status")
    if status is not None and status not in ("open", "closed"):
        raise BadRequest(f"status: expected open or closed, got {status!r}")
    async with engine(request).connect() as conn:
        return reply({"items": await alerts.list_alerts(conn, estate, status=status)})


add_route(routes, item_update(f"/leak-alerts/{ID}", "metering.leaks.update",
                              "Close a leak alert saying what was found, or open it again.",
                              alerts.AlertUpdate, alerts.get_alert, "leak alert", alerts.update_alert))
