"""Alarms at the guard console: door forced, held open, tamper, device offline; acknowledged and commented."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import StringConstraints
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access.common import audit, plain
from central.access.errors import Conflict, NotFound
from central.access.models import Alarm
from central.auth.principal import Principal
from central.registry.common import Body, require_estate
from estatelink import wire

Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
AlarmState = Literal["open", "acknowledged"]


class Acknowledge(Body):
    comment: Comment = ""
    """What was found or done; kept with the alarm."""


class CommentBody(Body):
    comment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


async def get_alarm(conn: AsyncConnection, alarm_id: int) -> dict[str, Any]:
    """An alarm, or NotFound."""
    row = (await conn.execute(select(Alarm).where(Alarm.id == alarm_id))).first()
    if row is None:
        raise NotFound(f"no alarm with id {alarm_id}")
    return plain(row)


async def list_alarms(conn: AsyncConnection, estate: str, *, state: str | None = None, kind: str | None = None,
                      since: datetime | None = None, until: datetime | None = None, before_id: int | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
    """The estate's alarms, newest first."""
    await require_estate(conn, estate)
    stmt = select(Alarm).where(Alarm.estate == estate)
    for column, value in ((Alarm.state, state), (Alarm.kind, kind)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(Alarm.at >= since)
    if until is not None:
        stmt = stmt.where(Alarm.at < until)
    if before_id is not None:
        stmt = stmt.where(Alarm.id < before_id)
    return [plain(row) for row in (await conn.execute(stmt.order_by(Alarm.id.desc()).limit(limit))).all()]


async def acknowledge(conn: AsyncConnection, actor: Principal, alarm_id: int, body: Acknowledge) -> dict[str, Any]:
    """Acknowledge an open alarm: who and when are kept, with the comment if one is given."""
    before = await get_alarm(conn, alarm_id)
    if before["state"] != "open":
        raise Conflict(f"alarm {alarm_id} was already acknowledged by {before['acknowledged_by']}")
    now = wire.utc_now()
    values: dict[str, Any] = {"state": "acknowledged", "acknowledged_by": actor.username, "acknowledged_at": now}
    if body.comment:
        values.update(comment=body.comment, commented_by=actor.username, commented_at=now)
    done = await conn.execute(update(Alarm).where(Alarm.id == alarm_id, Alarm.state == "open").values(**values))
    if done.rowcount != 1:  # another guard acknowledged it since we read it
        current = await get_alarm(conn, alarm_id)
        raise Conflict(f"alarm {alarm_id} was already acknowledged by {current['acknowledged_by']}")
    after = await get_alarm(conn, alarm_id)
    await audit(conn, actor, "alarm", "acknowledge", alarm_id, after["estate"], before, after)
    return after


async def comment(conn: AsyncConnection, actor: Principal, alarm_id: int, body: CommentBody) -> dict[str, Any]:
    """Set the alarm's comment (open or acknowledged); the audit log keeps every earlier one."""
    before = await get_alarm(conn, alarm_id)
    await conn.execute(update(Alarm).where(Alarm.id == alarm_id).values(
        comment=body.comment, commented_by=actor.username, commented_at=wire.utc_now()))
    after = await get_alarm(conn, alarm_id)
    await audit(conn, actor, "alarm", "comment", alarm_id, after["estate"], before, after)
    return after
