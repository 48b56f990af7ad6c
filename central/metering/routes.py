"""HTTP routes of metering (each name is in METERING in central/auth/permissions.py).

Estates confine every record: one in an estate the user may not see answers 404, like a missing one. A
resident reaches only the meter points of the units they live in now, and never a gateway binding.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.body import parse_body
from central.api.errors import BadRequest
from central.api.params import parse_time
from central.auth.scope import can_see, check_estate
from central.metering import alerts, meters, points, readings, service
from central.metering.common import Period, estate_zone, period_of
from central.metering.errors import NotFound
from central.metering.importer import import_readings
from central.metering.models import KINDS
from central.registry.common import Body
from central.registry.estates import get_estate
from central.registry.http import (check_query, endpoint, engine, is_resident, own_units, page, page_params, path_id,
                                   principal, query_int, reply)
from central.transfer.tables import MAX_FILE_BYTES, FileProblem

routes = web.RouteTableDef()
ID = r"{id:\d+}"
_HIDDEN_FROM_RESIDENTS = ("gateway", "device")


class PeriodBody(Body):
    month: str | None = None
    """YYYY-MM in the estate's time zone; or since and until."""
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


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


def _confine(request: web.Request, record: dict[str, Any], what: str) -> dict[str, Any]:
    if not can_see(principal(request), record["estate"]):
        raise NotFound(f"no {what} with id {record['id']}")
    return record


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


@routes.post("/estates/{estate}/meter-points", name="metering.points.create")
@endpoint
async def create_point(request: web.Request) -> web.Response:
    """Add a meter point serving a unit or a common area."""
    estate = _estate(request)
    body = await parse_body(request, points.PointCreate)
    async with engine(request).begin() as conn:
        return reply(await points.create_point(conn, principal(request), estate, body), 201)


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


@routes.post(f"/meter-points/{ID}/meters", name="metering.meters.install")
@endpoint
async def install_meter(request: web.Request) -> web.Response:
    """Fit a meter where none is fitted; its first reading is stored."""
    body = await parse_body(request, meters.MeterInstall)
    async with engine(request).begin() as conn:
        point = await _point(conn, request)
        return reply(await meters.install_meter(conn, principal(request), point, body), 201)


@routes.post(f"/meter-points/{ID}/replacements", name="metering.meters.replace")
@endpoint
async def replace_meter(request: web.Request) -> web.Response:
    """Replace the fitted meter: its final and the new meter's first reading, in one transaction."""
    body = await parse_body(request, meters.MeterReplace)
    async with engine(request).begin() as conn:
        point = await _point(conn, request)
        return reply(await meters.replace_meter(conn, principal(request), point, body), 201)


@routes.patch(f"/meters/{ID}", name="metering.meters.update")
@endpoint
async def update_meter(request: web.Request) -> web.Response:
    """Change a meter's model, or bind it to a gateway device (or unbind it)."""
    body = await parse_body(request, meters.MeterUpdate)
    async with engine(request).begin() as conn:
        _confine(request, await meters.get_meter(conn, path_id(request)), "meter")
        return reply(await meters.update_meter(conn, principal(request), path_id(request), body))


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


@routes.post(f"/meter-points/{ID}/readings", name="metering.readings.create")
@endpoint
async def create_reading(request: web.Request) -> web.Response:
    """Enter a reading taken by hand; flags say what looks wrong about it."""
    body = await parse_body(request, readings.ManualReading)
    async with engine(request).begin() as conn:
        point = await _point(conn, request)
        return reply(await readings.add_manual(conn, principal(request), point, body), 201)


@routes.patch(f"/readings/{ID}", name="metering.readings.update")
@endpoint
async def update_reading(request: web.Request) -> web.Response:
    """Mark a reading invalid (left out of consumption) or valid again."""
    body = await parse_body(request, readings.ReadingUpdate)
    async with engine(request).begin() as conn:
        _confine(request, await readings.get_reading(conn, path_id(request)), "reading")
        return reply(await readings.update_reading(conn, principal(request), path_id(request), body))


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


async def _upload(request: web.Request) -> bytes:
    data = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > MAX_FILE_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_FILE_BYTES, actual_size=len(data))
    if not data:
        raise BadRequest("body: send the CSV or XLSX file as the request body")
    return bytes(data)


@routes.post("/estates/{estate}/meter-readings/import", name="metering.readings.import_file")
@endpoint
async def import_file(request: web.Request) -> web.Response:
    """Check (dry_run=true) or import readings from a CSV/XLSX: all or nothing, problems by row and column."""
    estate = _estate(request)
    check_query(request, {"dry_run", "filename"})
    dry_run = request.query.get("dry_run", "false").lower()
    if dry_run not in ("true", "false", "1", "0"):
        raise BadRequest(f"dry_run: expected true or false, got {dry_run!r}")
    data = await _upload(request)
    try:
        report = await import_readings(engine(request), principal(request), estate, data,
                                       filename=request.query.get("filename"), dry_run=dry_run in ("true", "1"))
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


@routes.patch(f"/leak-alerts/{ID}", name="metering.leaks.update")
@endpoint
async def update_alert(request: web.Request) -> web.Response:
    """Close a leak alert saying what was found, or open it again."""
    body = await parse_body(request, alerts.AlertUpdate)
    async with engine(request).begin() as conn:
        _confine(request, await alerts.get_alert(conn, path_id(request)), "leak alert")
        return reply(await alerts.update_alert(conn, principal(request), path_id(request), body))
