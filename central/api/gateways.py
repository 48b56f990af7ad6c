"""GET /gateways and GET /dead-letters: what central knows of each gateway, and what it could not ingest."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from central.api.params import as_utc, decode_cursor, encode_cursor, parse_int
from central.auth.principal import PRINCIPAL
from central.auth.scope import check_estate, estate_clause
from central.keys import ENGINE
from central.models import DeadLetter, GatewayRecord

routes = web.RouteTableDef()


@routes.get("/gateways", name="gateways.list")
async def list_gateways(request: web.Request) -> web.Response:
    """Each gateway's last state (online/offline, outbox, devices) and the sequence central has acked."""
    principal = request[PRINCIPAL]
    stmt = select(GatewayRecord).where(estate_clause(principal, GatewayRecord.estate)).order_by(
        GatewayRecord.estate, GatewayRecord.gateway)
    if "estate" in request.query:
        check_estate(principal, request.query["estate"])
        stmt = stmt.where(GatewayRecord.estate == request.query["estate"])
    async with request.config_dict[ENGINE].connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return web.json_response({"items": [
        {"estate": r.estate, "gateway": r.gateway, "status": r.status, "acked_seq": r.acked_seq,
         "state": r.state, "state_at": as_utc(r.state_at)} for r in rows]})


@routes.get("/dead-letters", name="dead_letters.list")
async def list_dead_letters(request: web.Request) -> web.Response:
    """Payloads ingest refused, newest first, with the reason."""
    limit = parse_int("limit", request.query.get("limit"), 100, 1, 1000)
    after = decode_cursor(request.query.get("cursor"), "desc")
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(DeadLetter.id < after)
    async with request.config_dict[ENGINE].connect() as conn:
        rows = (await conn.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return web.json_response({
        "items": [{"id": r.id, "received_at": as_utc(r.received_at), "topic": r.topic, "estate": r.estate,
                   "gateway": r.gateway, "seq": r.seq, "reason": r.reason, "payload_size": r.payload_size,
                   "payload_preview": r.payload[:512].decode("utf-8", errors="replace")} for r in rows],
        "next_cursor": encode_cursor(rows[-1].id, "desc") if more else None,
    })
