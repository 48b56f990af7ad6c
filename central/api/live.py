"""GET /estates/{estate}/live: the estate's taps, decisions, door events and alarms as server-sent events."""
from __future__ import annotations

import contextlib

import orjson
from aiohttp import web

from central.auth.principal import PRINCIPAL
from central.auth.scope import check_estate
from central.keys import LIVE
from estatelink import wire

routes = web.RouteTableDef()
PING_S = 15.0


def sse(event: str, data: object, event_id: str | None = None) -> bytes:
    """One server-sent event; the data is JSON on one line."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


@routes.get("/estates/{estate}/live", name="live.stream")
async def live_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `event` for taps and door events, `alarm` for alarms, `lost` when the page fell behind."""
    estate = request.match_info["estate"]
    check_estate(request[PRINCIPAL], estate)
    feed = request.config_dict[LIVE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    watcher = feed.watch(estate)
    try:
        await response.write(b"retry: 2000\n\n")
        while (batch := await watcher.next_batch(PING_S)) is not None:
            if watcher.lost:
                await response.write(sse("lost", {"lost": watcher.lost}))
                watcher.lost = 0
            if not batch:
                await response.write(b": ping\n\n")
                continue
            await response.write(b"".join(
                sse("alarm" if wire.stream_for_kind(e["kind"]) == "alarm" else "event", e, e["id"]) for e in batch))
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    finally:
        feed.unwatch(watcher)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response
