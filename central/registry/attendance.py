"""Attendance: readers flagged as attendance points, clock taps from gateway events, entries by hand."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry.common import Body, Note, ShortNote, aware, audit, changes, load, plain, require_estate
from central.registry.errors import Conflict, Invalid
from central.registry.models import AttendancePoint, AttendanceRecord, Staff
from central.registry.staff import staff_for_card
from estatelink import wire

Direction = Literal["in", "out", "toggle"]
GatewayId = Annotated[str, StringConstraints(pattern=wire.ID_PATTERN)]
DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_SHIFT = timedelta(hours=16)
"""An 'in' older than this is not closed by the next 'out' (someone forgot to clock out)."""
DOUBLE_TAP = timedelta(seconds=60)
"""A second tap by the same person this soon after the first is a repeat, not a clock-out."""


class PointCreate(Body):
    gateway: GatewayId
    device: DeviceId
    direction: Direction = "toggle"
    name: ShortNote = ""


class PointUpdate(Body):
    direction: Direction | None = None
    name: ShortNote | None = None


class ManualEntry(Body):
    at: AwareDatetime
    kind: Literal["in", "out"]
    note: Note = ""
    """Why it was entered by hand (forgot card, reader down)."""


async def create_point(conn: AsyncConnection, actor: Principal, estate: str, body: PointCreate) -> dict[str, Any]:
    """Flag a gateway's reader as an attendance point: its staff-card taps become clock-ins/outs."""
    await require_estate(conn, estate)
    if await conn.scalar(select(AttendancePoint.id).where(
            AttendancePoint.estate == estate, AttendancePoint.gateway == body.gateway,
            AttendancePoint.device == body.device)):
        raise Conflict(f"device: {body.gateway}/{body.device} is already an attendance point")
    point_id = (await conn.execute(insert(AttendancePoint).values(estate=estate, **body.model_dump())
                                   .returning(AttendancePoint.id))).scalar_one()
    after = await get_point(conn, point_id)
    await audit(conn, actor, "attendance_point", "create", point_id, estate, None, after)
    return after


async def get_point(conn: AsyncConnection, point_id: int) -> dict[str, Any]:
    return plain(await load(conn, AttendancePoint, point_id, "attendance point"))


async def list_points(conn: AsyncConnection, estate: str) -> list[dict[str, Any]]:
    await require_estate(conn, estate)
    stmt = select(AttendancePoint).where(AttendancePoint.estate == estate).order_by(AttendancePoint.id)
    return [plain(r) for r in (await conn.execute(stmt)).all()]


async def update_point(conn: AsyncConnection, actor: Principal, point_id: int, body: PointUpdate) -> dict[str, Any]:
    before = await get_point(conn, point_id)
    given = changes(body)
    if given:
        await conn.execute(update(AttendancePoint).where(AttendancePoint.id == point_id).values(**given))
    after = await get_point(conn, point_id)
    await audit(conn, actor, "attendance_point", "update", point_id, before["estate"], before, after)
    return after


async def delete_point(conn: AsyncConnection, actor: Principal, point_id: int) -> None:
    before = await get_point(conn, point_id)
    await conn.execute(AttendancePoint.__table__.delete().where(AttendancePoint.id == point_id))
    await audit(conn, actor, "attendance_point", "delete", point_id, before["estate"], before, None)


async def add_manual(conn: AsyncConnection, actor: Principal, staff_id: int, body: ManualEntry) -> dict[str, Any]:
    """Record a clock-in or -out by hand (the audit log keeps who entered it)."""
    staff = await load(conn, Staff, staff_id, "staff member")
    at = body.at.astimezone(timezone.utc)
    if at > wire.utc_now() + timedelta(minutes=5):
        raise Invalid("at", f"{body.at.isoformat()} is in the future")
    record_id = (await conn.execute(insert(AttendanceRecord).values(
        estate=staff.estate, staff_id=staff_id, at=at, kind=body.kind, source="manual", note=body.note)
        .returning(AttendanceRecord.id))).scalar_one()
    after = await get_record(conn, record_id)
    await audit(conn, actor, "attendance", "create", record_id, staff.estate, None, after)
    return after


async def get_record(conn: AsyncConnection, record_id: int) -> dict[str, Any]:
    return plain(await load(conn, AttendanceRecord, record_id, "attendance record"))


async def delete_manual(conn: AsyncConnection, actor: Principal, record_id: int) -> None:
    """Withdraw a wrong entry made by hand; taps from readers are evidence and stay."""
    before = await get_record(conn, record_id)
    if before["source"] != "manual":
        raise Conflict(f"attendance record {record_id} came from a reader and is kept; add a manual entry instead")
    await conn.execute(AttendanceRecord.__table__.delete().where(AttendanceRecord.id == record_id))
    await audit(conn, actor, "attendance", "delete", record_id, before["estate"], before, None)


async def list_records(conn: AsyncConnection, staff_id: int, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """A staff member's taps and entries in [since, until), oldest first."""
    stmt = (select(AttendanceRecord).where(AttendanceRecord.staff_id == staff_id, AttendanceRecord.at >= since,
                                           AttendanceRecord.at < until).order_by(AttendanceRecord.at))
    return [plain(r) for r in (await conn.execute(stmt)).all()]


def _time(value: Any) -> datetime:
    """UTC, whatever the row holds: SQLite keeps no offset, so every stored time must be UTC already."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return aware(value).astimezone(timezone.utc)


async def attendance_from_event(conn: AsyncConnection, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """Turn a stored `card.read` event at an attendance point into a clock-in/out of the card's holder.

    `event` is an events-table row (or its dict, as ingest builds it). Returns the attendance record, the
    existing one when the same event comes again, or None when the event is not an attendance tap (another
    kind, a reader that is no attendance point, a card no active staff member holds, or a double tap).
    The time is the gateway's receive time, the clock every event has.
    """
    if event["kind"] != "card.read":
        return None
    card = (event.get("data") or {}).get("card")
    if not isinstance(card, str) or not card.strip():
        return None
    estate, gateway, seq = event["estate"], event["gateway"], event["seq"]
    point = (await conn.execute(select(AttendancePoint).where(
        AttendancePoint.estate == estate, AttendancePoint.gateway == gateway,
        AttendancePoint.device == event["device"]))).first()
    if point is None:
        return None
    staff_id = await staff_for_card(conn, estate, card)
    if staff_id is None or not await conn.scalar(select(Staff.active).where(Staff.id == staff_id)):
        return None
    again = (await conn.execute(select(AttendanceRecord).where(
        AttendanceRecord.staff_id == staff_id, AttendanceRecord.gateway == gateway,
        AttendanceRecord.event_seq == seq))).first()
    if again is not None:
        return plain(again)
    at = _time(event["received_at"])
    previous = (await conn.execute(select(AttendanceRecord.at, AttendanceRecord.kind).where(
        AttendanceRecord.staff_id == staff_id, AttendanceRecord.at <= at, AttendanceRecord.at > at - MAX_SHIFT)
        .order_by(AttendanceRecord.at.desc()).limit(1))).first()
    if point.direction == "toggle":
        kind = "out" if previous is not None and previous.kind == "in" else "in"
        if previous is not None and at - aware(previous.at) < DOUBLE_TAP:
            return None
    else:
        kind = point.direction
        if previous is not None and previous.kind == kind and at - aware(previous.at) < DOUBLE_TAP:
            return None
    record_id = (await conn.execute(insert(AttendanceRecord).values(
        estate=estate, staff_id=staff_id, at=at, kind=kind, source="reader", device=event["device"],
        gateway=gateway, event_seq=seq, note="").returning(AttendanceRecord.id))).scalar_one()
    return await get_record(conn, record_id)


async def record_attendance_taps(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Clock-ins and -outs from the card reads of one ingest group; one query finds the attendance points."""
    taps = [row for row in rows if row["kind"] == "card.read"]
    if not taps:
        return 0
    points = {tuple(p) for p in await conn.execute(
        select(AttendancePoint.estate, AttendancePoint.gateway, AttendancePoint.device)
        .where(AttendancePoint.estate.in_({row["estate"] for row in taps})))}
    derived = 0
    for row in taps:
        if (row["estate"], row["gateway"], row["device"]) in points and await attendance_from_event(conn, row):
            derived += 1
    return derived
