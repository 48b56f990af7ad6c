"""GET /health: is the database reachable and is ingest connected to the broker."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from central.keys import ENGINE, INGEST

routes = web.RouteTableDef()


@routes.get("/health", name="health")
async def health(request: web.Request) -> web.Response:
    """200 when the database answers and ingest is subscribed; 503 otherwise, saying which part is down."""
    try:
        async with request.config_dict[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # the report names the failure instead of failing itself
        database = f"unavailable: {type(exc).__name__}"
    ingest = request.config_dict[INGEST]
    broker = "connected" if ingest.connected.is_set() else "disconnected"
    healthy = database == "ok" and broker == "connected"
    return web.json_response({"status": "ok" if healthy else "degraded", "database": database,
                              "broker": broker, "ingest": dict(ingest.counters)},
                             status=200 if healthy else 503)
