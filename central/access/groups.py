"""Door groups and schedules (weekly intervals in the estate's time zone, holidays with their own intervals).

Codes are the ids the gateways key records by, so they never change: a renamed group keeps its code.
Every change returns the estate's `access_version` it produced, for the sync to publish after commit.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access import changelog, records
from central.access.common import WireId, audit, plain
from central.access.errors import Conflict, Invalid, NotFound
from central.access.models import Card, DoorGroup, DoorGroupMember, Schedule
from central.auth.principal import Principal
from central.registry.common import Body, Label, RecordId, changes, require_estate
from central.registry.estates import TimeZoneName
from central.registry.models import Building
from estatelink import wire

Clock = Annotated[str, StringConstraints(pattern=r"^\d\d:\d\d(:\d\d)?$")]
Interval = Annotated[list[Clock], Field(min_length=2, max_length=2)]
Intervals = Annotated[list[Interval], Field(max_length=24)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class GroupCreate(Body):
    code: WireId
    name: Label
    building_id: RecordId | None = None
    """The building the group serves; its residents may issue visitor passes for the group."""


class GroupUpdate(Body):
    name: Label | None = None
    building_id: RecordId | None = None


class ScheduleCreate(Body):
    code: WireId
    name: Label
    weekly: dict[Weekday, Intervals] = {}
    """Local [start, end] pairs per day; an end at or before the start runs past midnight."""
    holidays: Annotated[list[date], Field(max_length=366)] = []
    holiday_intervals: Intervals = []
    """The intervals on a holiday (none: closed all day)."""
    timezone: TimeZoneName | None = None
    """The estate's time zone unless given."""


class ScheduleUpdate(Body):
    name: Label | None = None
    weekly: dict[Weekday, Intervals] | None = None
    holidays: Annotated[list[date], Field(max_length=366)] | None = None
    holiday_intervals: Intervals | None = None
    timezone: TimeZoneName | None = None


async def _unique(conn: AsyncConnection, model: Any, estate: str, code: str, what: str) -> None:
    if await conn.scalar(select(model.id).where(model.estate == estate, model.code == code)):
        raise Conflict(f"code: estate {estate!r} already has {what} {code!r}")


async def _building(conn: AsyncConnection, estate: str, building_id: int | None) -> None:
    if building_id is not None and not await conn.scalar(
            select(Building.id).where(Building.id == building_id, Building.estate == estate)):
        raise Invalid("building_id", f"estate {estate!r} has no building with id {building_id}")


async def get_group(conn: AsyncConnection, group_id: int) -> dict[str, Any]:
    """A door group with how many doors it holds."""
    row = (await conn.execute(select(DoorGroup).where(DoorGroup.id == group_id))).first()
    if row is None:
        raise NotFound(f"no door group with id {group_id}")
    out = plain(row)
    out["doors"] = await conn.scalar(select(func.count()).where(DoorGroupMember.group_id == group_id))
    return out


async def list_groups(conn: AsyncConnection, estate: str) -> list[dict[str, Any]]:
    """The estate's door groups by code."""
    await require_estate(conn, estate)
    stmt = select(DoorGroup).where(DoorGroup.estate == estate).order_by(DoorGroup.code)
    return [plain(row) for row in (await conn.execute(stmt)).all()]


async def create_group(conn: AsyncConnection, actor: Principal, estate: str, body: GroupCreate) -> dict[str, Any]:
    """Add a door group (block-3, main-gates); cards and doors name it by its code."""
    await require_estate(conn, estate)
    await _unique(conn, DoorGroup, estate, body.code, "a door group")
    await _building(conn, estate, body.building_id)
    group_id = (await conn.execute(insert(DoorGroup).values(estate=estate, created_at=wire.utc_now(),
                                                            **body.model_dump()).returning(DoorGroup.id))).scalar_one()
    after = await get_group(conn, group_id)
    row = (await conn.execute(select(DoorGroup).where(DoorGroup.id == group_id))).one()
    logged = await changelog.append(conn, estate, [records.door_group(row)])
    await audit(conn, actor, "door_group", "create", group_id, estate, None, after)
    return {**after, **logged.fields()}


async def update_group(conn: AsyncConnection, actor: Principal, group_id: int, body: GroupUpdate) -> dict[str, Any]:
    """Rename a door group or change the building it serves (its code stays)."""
    before = await get_group(conn, group_id)
    given = changes(body, frozenset({"building_id"}))
    await _building(conn, before["estate"], given.get("building_id"))
    if given:
        await conn.execute(update(DoorGroup).where(DoorGroup.id == group_id).values(**given))
    after = await get_group(conn, group_id)
    row = (await conn.execute(select(DoorGroup).where(DoorGroup.id == group_id))).one()
    logged = await changelog.append(conn, before["estate"], [records.door_group(row)])
    await audit(conn, actor, "door_group", "update", group_id, before["estate"], before, after)
    return {**after, **logged.fields()}


async def delete_group(conn: AsyncConnection, actor: Principal, group_id: int) -> dict[str, Any]:
    """Remove a door group no door and no live card uses."""
    before = await get_group(conn, group_id)
    if before["doors"]:
        raise Conflict(f"door group {before['code']!r} holds {before['doors']} door(s); take them out first")
    cards = (await conn.execute(select(Card.card, Card.door_groups).where(
        Card.estate == before["estate"], Card.state.in_(("active", "suspended"))))).all()
    using = [card for card, groups in cards if before["code"] in groups]
    if using:
        raise Conflict(f"door group {before['code']!r} is on {len(using)} live card(s), e.g. {using[0]}; "
                       "change those cards first")
    await conn.execute(DoorGroup.__table__.delete().where(DoorGroup.id == group_id))
    logged = await changelog.append(conn, before["estate"], [records.deleted("door_groups", before["code"])])
    await audit(conn, actor, "door_group", "delete", group_id, before["estate"], before, None)
    return {"deleted": True, "id": group_id, "estate": before["estate"], **logged.fields()}


async def get_schedule(conn: AsyncConnection, schedule_id: int) -> dict[str, Any]:
    """A schedule, or NotFound."""
    row = (await conn.execute(select(Schedule).where(Schedule.id == schedule_id))).first()
    if row is None:
        raise NotFound(f"no schedule with id {schedule_id}")
    return plain(row)


async def list_schedules(conn: AsyncConnection, estate: str) -> list[dict[str, Any]]:
    """The estate's schedules by code."""
    await require_estate(conn, estate)
    stmt = select(Schedule).where(Schedule.estate == estate).order_by(Schedule.code)
    return [plain(row) for row in (await conn.execute(stmt)).all()]


def _stored(given: dict[str, Any]) -> dict[str, Any]:
    out = dict(given)
    if "holidays" in out:
        out["holidays"] = sorted({day.isoformat() for day in out["holidays"]})
    return out


async def create_schedule(conn: AsyncConnection, actor: Principal, estate: str,
                          body: ScheduleCreate) -> dict[str, Any]:
    """Add a schedule; a door follows it in a door group (a door group with none is open at all times)."""
    estate_row = await require_estate(conn, estate)
    await _unique(conn, Schedule, estate, body.code, "a schedule")
    values = _stored(body.model_dump())
    values["timezone"] = values["timezone"] or estate_row.timezone
    row_values = {"estate": estate, "created_at": wire.utc_now(), **values}
    records.schedule(_Row(row_values))  # a schedule the wire cannot carry is refused before it is stored
    schedule_id = (await conn.execute(insert(Schedule).values(**row_values).returning(Schedule.id))).scalar_one()
    return await _schedule_changed(conn, actor, schedule_id, None, "create")


async def update_schedule(conn: AsyncConnection, actor: Principal, schedule_id: int,
                          body: ScheduleUpdate) -> dict[str, Any]:
    """Change a schedule's name, intervals, holidays or time zone (its code stays)."""
    before = await get_schedule(conn, schedule_id)
    given = _stored(changes(body))
    records.schedule(_Row({**before, **given}))
    if given:
        await conn.execute(update(Schedule).where(Schedule.id == schedule_id).values(**given))
    return await _schedule_changed(conn, actor, schedule_id, before, "update")


async def _schedule_changed(conn: AsyncConnection, actor: Principal, schedule_id: int,
                            before: dict[str, Any] | None, action: str) -> dict[str, Any]:
    after = await get_schedule(conn, schedule_id)
    row = (await conn.execute(select(Schedule).where(Schedule.id == schedule_id))).one()
    logged = await changelog.append(conn, after["estate"], [records.schedule(row)])
    await audit(conn, actor, "schedule", action, schedule_id, after["estate"], before, after)
    return {**after, **logged.fields()}


async def delete_schedule(conn: AsyncConnection, actor: Principal, schedule_id: int) -> dict[str, Any]:
    """Remove a schedule no door follows."""
    before = await get_schedule(conn, schedule_id)
    used = await conn.scalar(select(func.count()).where(DoorGroupMember.schedule_id == schedule_id))
    if used:
        raise Conflict(f"schedule {before['code']!r} is followed by {used} door(s) in their groups; change them first")
    await conn.execute(Schedule.__table__.delete().where(Schedule.id == schedule_id))
    logged = await changelog.append(conn, before["estate"], [records.deleted("schedules", before["code"])])
    await audit(conn, actor, "schedule", "delete", schedule_id, before["estate"], before, None)
    return {"deleted": True, "id": schedule_id, "estate": before["estate"], **logged.fields()}


class _Row:
    """Attribute access over a dict, for building a record from values not yet stored."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
