"""HTTP routes of notify (each name is in NOTIFY in central/auth/permissions.py).

Estates confine every notification: one of an estate the user may not see answers 404, like a missing one.
A resident reaches only the notices of the units they live in now, sees no delivery internals, and sees the
recipient in full only on notices addressed to them.
"""
from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.body import parse_body
from central.api.errors import BadRequest
from central.auth.scope import can_see, check_estate
from central.keys import CONFIG
from central.notify import service
from central.notify.errors import FontMissing, NotFound
from central.notify.models import CHANNELS, STATUSES
from central.registry.common import Body, require_estate
from central.registry.http import (check_query, endpoint, engine, is_resident, own_units, page, page_params, path_id,
                                   principal, query_int, reply)

routes = web.RouteTableDef()
ID = r"{id:\d+}"
RESIDENT_FIELDS = ("id", "estate", "unit_id", "channel", "recipient", "locale", "purpose", "subject", "body",
                   "attachment_name", "status", "created_at", "sent_at")


class ActionBody(Body):
    """Nothing to say yet; an empty object."""


def add_routes(api: web.Application) -> None:
    """Mount notify on the API sub-app (the one served at /api/v1)."""
    api.add_routes(routes)


def mask(recipient: str) -> str:
    """z***@example.com, 138****5678: enough to recognise, not to copy."""
    name, at, domain = recipient.partition("@")
    if at:
        return f"{name[:1]}***@{domain}"
    return recipient[:3] + "*" * max(len(recipient) - 7, 0) + recipient[-4:] if len(recipient) > 7 else "****"


def _for(request: web.Request, record: dict[str, Any]) -> dict[str, Any]:
    who = principal(request)
    if not is_resident(who):
        return record
    out = {key: record[key] for key in RESIDENT_FIELDS}
    if record["resident_id"] != who.resident_id:
        out["recipient"] = mask(record["recipient"])
    return out


async def _visible(conn: AsyncConnection, request: web.Request) -> dict[str, Any]:
    """The notification of the path, if the user may see it (a resident: only one of their own units)."""
    who, notification_id = principal(request), path_id(request)
    record = await service.get_notification(conn, notification_id)
    if not can_see(who, record["estate"]):
        raise NotFound(f"no notification with id {notification_id}")
    mine = await own_units(conn, who)
    if mine is not None and record["unit_id"] not in mine:
        raise NotFound(f"no notification with id {notification_id}")
    return record


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


@routes.get("/estates/{estate}/notifications", name="notify.notifications.list")
@endpoint
async def list_notifications(request: web.Request) -> web.Response:
    """Notifications of the estate in id order, by status, purpose, channel or unit; a resident sees their units'."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"status", "purpose", "channel", "unit", "cursor", "limit"})
    status, channel = _choice(request, "status", STATUSES), _choice(request, "channel", CHANNELS)
    after, limit = page_params(request)
    async with engine(request).connect() as conn:
        await require_estate(conn, estate)
        items = await service.list_notifications(
            conn, estate, status=status, purpose=request.query.get("purpose"), channel=channel,
            unit_id=query_int(request, "unit"), only_units=await own_units(conn, principal(request)), after=after,
            limit=limit)
    return reply(page([_for(request, item) for item in items], limit))


@routes.get(f"/notifications/{ID}", name="notify.notifications.get")
@endpoint
async def get_notification(request: web.Request) -> web.Response:
    """A notification with its attempt log (never the attachment's bytes: download those separately)."""
    async with engine(request).connect() as conn:
        return reply(_for(request, await _visible(conn, request)))


@routes.get(f"/notifications/{ID}/attachment", name="notify.notifications.attachment")
@endpoint
async def download_attachment(request: web.Request) -> web.StreamResponse:
    """The notice PDF exactly as it was (or will be) sent."""
    config = request.config_dict.get(CONFIG)
    font_file = config.notify.font_file if config is not None else None
    async with engine(request).begin() as conn:
        record = await _visible(conn, request)
        try:
            name, data = await service.attachment_of(conn, record["id"], font_file)
        except FontMissing as exc:
            raise web.HTTPServiceUnavailable(text=orjson.dumps({"error": "font_missing", "message": exc.message})
                                             .decode(), content_type="application/json") from None
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)  # a header carries ASCII; the e-mail keeps the full name
    return web.Response(body=data, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"})


@routes.post(f"/notifications/{ID}/requeue", name="notify.notifications.requeue")
@endpoint
async def requeue(request: web.Request) -> web.Response:
    """Queue a failed or cancelled notification again, due now, with a fresh count of attempts."""
    await parse_body(request, ActionBody)
    async with engine(request).begin() as conn:
        record = await _visible(conn, request)
        return reply(await service.requeue(conn, principal(request), record["id"]))


@routes.post(f"/notifications/{ID}/cancel", name="notify.notifications.cancel")
@endpoint
async def cancel(request: web.Request) -> web.Response:
    """Withdraw a notification that has not gone yet."""
    await parse_body(request, ActionBody)
    async with engine(request).begin() as conn:
        record = await _visible(conn, request)
        return reply(await service.cancel(conn, principal(request), record["id"]))
