"""GET /estates/{estate}/live: the estate's taps, decisions, door events and alarms as server-sent events."""
from __future__ import annotations

import contextlib

import orjson
from aiohttp import web

from central.auth.middleware import authenticate
from central.auth.permissions import roles_for
from central.auth.principal import PRINCIPAL
from central.auth.scope import can_see, check_estate
from central.keys import LIVE
from estatelink import wire

routes = web.RouteTableDef()
PING_S = 15.0


def sse(event: str, data: object, event_id: str | None = None) -> bytes:
    """One server-sent event; the data is JSON on one line."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


async def still_allowed(request: web.Request, estate: str) -> bool:
    """Whether the request's credentials still open this stream: checked before every write, so logging out,
    a password change, a disabled account or a lost estate ends the stream at once."""
    try:
        principal, _ = await authenticate(request)
    except web.HTTPException:
        return False
    return principal is not None and principal.role in roles_for("live.stream") and can_see(principal, estate)


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
            if not await still_allowed(request, estate):
                await response.write(sse("ended", {"message": "the session ended or the account changed; "
                                                              "log in again"}))
                break
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
