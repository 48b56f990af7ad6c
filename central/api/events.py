"""GET /events: the stored event log, filtered, with cursor pagination."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from central.api.errors import BadRequest
from central.api.params import as_utc, decode_cursor, encode_cursor, parse_int, parse_time
from central.auth.principal import PRINCIPAL
from central.auth.scope import check_estate, estate_clause
from central.keys import ENGINE
from central.models import Event

routes = web.RouteTableDef()
FILTERS = ("estate", "gateway", "kind", "device")
ALLOWED = {*FILTERS, "since", "until", "cursor", "limit", "order"}


def event_json(event: Event) -> dict:
    return {
        "id": event.uuid, "estate": event.estate, "gateway": event.gateway, "seq": event.seq,
        "device": event.device, "kind": event.kind, "device_time": as_utc(event.device_time),
        "received_at": as_utc(event.received_at), "stored_at": as_utc(event.stored_at), "data": event.data,
    }


@routes.get("/events", name="events.list")
async def list_events(request: web.Request) -> web.Response:
    """Events, oldest first by default; `since`/`until` bound the gateway receive time."""
    query = request.query
    unknown = sorted(set(query) - ALLOWED)
    if unknown:
        raise BadRequest(f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED))}")
    order = query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadRequest(f"order: expected asc or desc, got {order!r}")
    limit = parse_int("limit", query.get("limit"), 100, 1, 1000)
    since, until = parse_time("since", query.get("since")), parse_time("until", query.get("until"))
    after = decode_cursor(query.get("cursor"), order)

    principal = request[PRINCIPAL]
    if "estate" in query:
        check_estate(principal, query["estate"])
    stmt = select(Event).where(estate_clause(principal, Event.estate))
    for name in FILTERS:
        if name in query:
            stmt = stmt.where(getattr(Event, name) == query[name])
    if since is not None:
        stmt = stmt.where(Event.received_at >= since)
    if until is not None:
        stmt = stmt.where(Event.received_at < until)
    if after is not None:
        stmt = stmt.where(Event.id > after if order == "asc" else Event.id < after)
    stmt = stmt.order_by(Event.id.asc() if order == "asc" else Event.id.desc()).limit(limit + 1)

    async with request.config_dict[ENGINE].connect() as conn:
        rows = (await conn.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return web.json_response({
        "items": [event_json(row) for row in rows],
        "next_cursor": encode_cursor(rows[-1].id, order) if more else None,
    })
