"""HTTP routes for what the guards watch: the access log (and its CSV), alarms, and the gateways' sync."""
from __future__ import annotations

import aiomqtt
from aiohttp import web
from sqlalchemy import select

from central.access import alarms, changelog
from central.access.common import audit, utc
from central.access.http import announce, sync_of
from central.access.log import LogFilter, export, list_log
from central.access.models import GatewayAccessState
from central.access.rebuild import rebuild
from central.access.routes_setup import newest_first, newest_page
from central.access.sync import gateways_of
from central.api.body import parse_body
from central.api.errors import BadRequest
from central.api.params import parse_time
from central.auth.scope import check_estate
from central.models import GatewayRecord
from central.registry.common import Body, require_estate
from central.registry.crud import add_route, item_action, item_get
from central.registry.http import check_query, endpoint, engine, principal, reply

custom = web.RouteTableDef()
ID = r"{id:\d+}"
ALARM = f"/access/alarms/{ID}"
LOG_QUERY = {"door", "card", "holder", "granted", "reason", "since", "until"}


def _log_filter(request: web.Request) -> LogFilter:
    query = request.query
    granted = query.get("granted")
    if granted not in (None, "true", "false"):
        raise BadRequest(f"granted: expected true or false, got {granted!r}")
    return LogFilter(door=query.get("door"), card=query.get("card"), holder=query.get("holder"),
                     granted=None if granted is None else granted == "true", reason=query.get("reason"),
                     since=parse_time("since", query.get("since")), until=parse_time("until", query.get("until")))


@custom.get("/estates/{estate}/access/log", name="access.log.list")
@endpoint
async def access_log(request: web.Request) -> web.Response:
    """Decisions at the estate's doors, newest first, filtered by door, card, holder, granted, reason and time."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, LOG_QUERY | {"cursor", "limit"})
    where, (before, limit) = _log_filter(request), newest_first(request)
    async with engine(request).connect() as conn:
        await require_estate(conn, estate)
        items = await list_log(conn, estate, where, before_id=before, limit=limit)
    return reply(newest_page(items, limit))


@custom.get("/estates/{estate}/access/log.csv", name="access.log.export")
@endpoint
async def access_log_csv(request: web.Request) -> web.StreamResponse:
    """The filtered access log as CSV, newest first (at most log.MAX_EXPORT_ROWS rows)."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, LOG_QUERY)
    where = _log_filter(request)
    async with engine(request).connect() as conn:
        await require_estate(conn, estate)
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{estate}-access-log.csv"'})
        await response.prepare(request)
        async for chunk in export(conn, estate, where):
            await response.write(chunk)
    await response.write_eof()
    return response


@custom.get("/estates/{estate}/access/alarms", name="access.alarms.list")
@endpoint
async def list_alarms(request: web.Request) -> web.Response:
    """Alarms of the estate, newest first, by state (open, acknowledged), kind and time."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"state", "kind", "since", "until", "cursor", "limit"})
    state = request.query.get("state")
    if state not in (None, "open", "acknowledged"):
        raise BadRequest(f"state: expected open or acknowledged, got {state!r}")
    before, limit = newest_first(request)
    async with engine(request).connect() as conn:
        items = await alarms.list_alarms(conn, estate, state=state, kind=request.query.get("kind"),
                                         since=parse_time("since", request.query.get("since")),
                                         until=parse_time("until", request.query.get("until")),
                                         before_id=before, limit=limit)
    return reply(newest_page(items, limit))


add_route(custom, item_action(f"{ALARM}/acknowledge", "access.alarms.acknowledge",
                             "Acknowledge an alarm, optionally with a comment; who and when are kept.",
                             alarms.Acknowledge, alarms.get_alarm, "alarm", alarms.acknowledge))
add_route(custom, item_action(f"{ALARM}/comment", "access.alarms.comment",
                             "Set an alarm's comment (the audit log keeps earlier ones).",
                             alarms.CommentBody, alarms.get_alarm, "alarm", alarms.comment))


@custom.get("/estates/{estate}/access/sync", name="access.sync.status")
@endpoint
async def sync_status(request: web.Request) -> web.Response:
    """The estate's access version and checksum, and what each gateway last reported and was sent."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, set())
    async with engine(request).connect() as conn:
        await require_estate(conn, estate)
        version, floor = await changelog.versions(conn, estate)
        _, checksum = await changelog.state(conn, estate)
        names = await gateways_of(conn, estate)
        reported = {row.gateway: row for row in (await conn.execute(
            select(GatewayAccessState).where(GatewayAccessState.estate == estate))).all()}
        online = dict((await conn.execute(select(GatewayRecord.gateway, GatewayRecord.status).where(
            GatewayRecord.estate == estate))).all())
    gateways = []
    for name in sorted(set(names) | set(reported)):
        row = reported.get(name)
        fields = {k: utc(getattr(row, k)) if row and k.endswith("_at") else getattr(row, k, None) for k in (
            "reported_version", "reported_checksum", "reported_synced_at", "reported_at", "sent_kind",
            "sent_version", "sent_at", "reply_status", "reply_detail", "reply_at")}
        in_sync = row is not None and row.reported_version == version and row.reported_checksum == checksum
        gateways.append({"gateway": name, "status": online.get(name, "unknown"), "in_sync": in_sync, **fields})
    return reply({"estate": estate, "version": version, "floor": floor, "checksum": checksum, "gateways": gateways})


@custom.post("/estates/{estate}/access/sync", name="access.sync.resync")
@endpoint
async def resync(request: web.Request) -> web.Response:
    """Rebuild the records from their tables (holder names the registry changed) and send every gateway a
    full snapshot now."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    await parse_body(request, _Empty)
    async with engine(request).begin() as conn:
        await require_estate(conn, estate)
        before = (await changelog.versions(conn, estate))[0]
        logged = await rebuild(conn, estate)
        await audit(conn, principal(request), "access", "resync", estate, estate, {"version": before},
                    {"version": logged.version})
    announce(request, {"estate": estate, **logged.fields()})
    try:
        sent = await sync_of(request).resync(estate)
    except (aiomqtt.MqttError, OSError) as exc:
        return reply({"error": "broker", "message": f"the broker is unreachable: {exc}"}, 503)
    return reply({"estate": estate, "version": logged.version, "sent": sent}, 202)


class _Empty(Body):
    """No fields."""


routes = [
    *custom,
    item_get(ALARM, "access.alarms.get", "An alarm", alarms.get_alarm, "alarm"),
]
