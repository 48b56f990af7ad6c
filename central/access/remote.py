"""Remote door opens from the console: recorded and audited before the command goes out, the gateway's reply
(ok, expired, failed, ...) recorded and audited when it comes back.

The command expires 30 seconds after it is issued: a door-open that sat in the broker while the gateway was
away is refused by the gateway, never run late.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import Field
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access.common import audit, plain
from central.access.errors import NotFound
from central.access.models import RemoteOpen
from central.auth.principal import SYSTEM, Principal
from central.registry.common import Body, Note, require_estate
from estatelink import wire

DOOR_OPEN_TTL = timedelta(seconds=30)


class OpenBody(Body):
    seconds: Annotated[int, Field(ge=1, le=60)] | None = None
    """How long to release the lock; the door's own unlock time when not given."""
    reason: Note = ""
    """Why (a visitor at the gate, a delivery); kept in the record and the audit log."""


def command(name: str, args: dict[str, Any], issuer: str, ttl: timedelta,
            now: datetime | None = None) -> tuple[uuid.UUID, datetime, bytes]:
    """(id, expires_at, payload) of a wire command; `args` may hold orjson fragments."""
    now = now or wire.utc_now()
    command_id, expires = uuid.uuid4(), now + ttl
    payload = orjson.dumps({"v": wire.WIRE_VERSION, "id": str(command_id), "name": name, "issuer": issuer,
                            "issued_at": now.isoformat(), "expires_at": expires.isoformat(), "args": args})
    return command_id, expires, payload


async def record_open(conn: AsyncConnection, actor: Principal, door: dict[str, Any],
                      body: OpenBody) -> tuple[dict[str, Any], bytes]:
    """Record and audit a remote open of `door`; returns the record and the command payload to publish."""
    seconds = body.seconds or door["unlock_s"]
    args = {"door": door["code"], "seconds": seconds}
    now = wire.utc_now()
    command_id, expires, payload = command("door_open", args, actor.username, DOOR_OPEN_TTL, now)
    open_id = (await conn.execute(insert(RemoteOpen).values(
        command_id=str(command_id), estate=door["estate"], gateway=door["gateway"], door_id=door["id"],
        door=door["code"], seconds=seconds, issuer=actor.username, issuer_id=actor.user_id, reason=body.reason,
        sent_at=now, expires_at=expires, status="sent", detail="", replied_at=None, executed_at=None)
        .returning(RemoteOpen.id))).scalar_one()
    after = await get_open(conn, open_id)
    await audit(conn, actor, "door", "remote_open", door["id"], door["estate"], None, after, body.reason)
    return after, payload


async def mark_unsent(conn: AsyncConnection, actor: Principal, open_id: int, reason: str) -> dict[str, Any]:
    """The command could not be handed to the broker: say so, in the record and the audit log."""
    before = await get_open(conn, open_id)
    await conn.execute(update(RemoteOpen).where(RemoteOpen.id == open_id).values(status="unsent", detail=reason))
    after = await get_open(conn, open_id)
    await audit(conn, actor, "remote_open", "unsent", open_id, after["estate"], before, after, reason)
    return after


async def record_reply(conn: AsyncConnection, reply: wire.Reply) -> dict[str, Any] | None:
    """Store a gateway's reply to a door_open and audit it; None for a command central has no record of."""
    row = (await conn.execute(select(RemoteOpen).where(RemoteOpen.command_id == str(reply.command_id)))).first()
    if row is None:
        return None
    before = plain(row)
    await conn.execute(update(RemoteOpen).where(RemoteOpen.id == row.id).values(
        status=reply.status, detail=reply.detail[:2000], replied_at=reply.at))
    after = await get_open(conn, row.id)
    await audit(conn, SYSTEM, "remote_open", "reply", row.id, row.estate, before, after,
                f"{reply.status}: {reply.detail}"[:500])
    return after


async def get_open(conn: AsyncConnection, open_id: int) -> dict[str, Any]:
    """A remote open with the gateway's answer, or NotFound."""
    row = (await conn.execute(select(RemoteOpen).where(RemoteOpen.id == open_id))).first()
    if row is None:
        raise NotFound(f"no remote open with id {open_id}")
    return plain(row)


async def list_opens(conn: AsyncConnection, estate: str, *, door: str | None = None, before_id: int | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
    """The estate's remote opens, newest first."""
    await require_estate(conn, estate)
    stmt = select(RemoteOpen).where(RemoteOpen.estate == estate)
    if door is not None:
        stmt = stmt.where(RemoteOpen.door == door)
    if before_id is not None:
        stmt = stmt.where(RemoteOpen.id < before_id)
    return [plain(row) for row in (await conn.execute(stmt.order_by(RemoteOpen.id.desc()).limit(limit))).all()]
