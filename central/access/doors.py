"""Doors: which gateway drives each, its readers and timings, and the door groups it is in (each with the
schedule the door follows there). The code is the door id the gateway knows it by and never changes."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access import changelog, records
from central.access.common import WireId, audit, plain
from central.access.errors import Conflict, Invalid, NotFound
from central.access.models import Door, DoorGroup, DoorGroupMember, Schedule
from central.auth.principal import Principal
from central.registry.common import Body, Label, changes, require_estate
from estatelink import wire

Readers = Annotated[list[WireId], Field(max_length=8)]
Groups = Annotated[dict[WireId, WireId | None], Field(max_length=64)]


class AntiPassbackBody(Body):
    zone: WireId
    direction: Literal["in", "out"]
    reset_after_s: Annotated[int, Field(ge=1, le=366 * 86400)] | None = None


class DoorCreate(Body):
    code: WireId
    """The door id in the gateway's config."""
    gateway: WireId
    name: Label
    readers: Readers = []
    """The reader device ids at this door (entry and exit)."""
    unlock_s: Annotated[int, Field(ge=1, le=60)] = 5
    held_open_s: Annotated[int, Field(ge=1, le=3600)] = 30
    groups: Groups = {}
    """Door group code -> schedule code the door follows in that group, or null for at all times."""
    anti_passback: AntiPassbackBody | None = None


class DoorUpdate(Body):
    gateway: WireId | None = None
    name: Label | None = None
    readers: Readers | None = None
    unlock_s: Annotated[int, Field(ge=1, le=60)] | None = None
    held_open_s: Annotated[int, Field(ge=1, le=3600)] | None = None
    groups: Groups | None = None
    anti_passback: AntiPassbackBody | None = None


async def get_door(conn: AsyncConnection, door_id: int) -> dict[str, Any]:
    """A door with its groups as {group code: schedule code or null}."""
    row = (await conn.execute(select(Door).where(Door.id == door_id))).first()
    if row is None:
        raise NotFound(f"no door with id {door_id}")
    out = plain(row)
    out["groups"] = dict((await conn.execute(
        select(DoorGroup.code, Schedule.code).select_from(DoorGroupMember)
        .join(DoorGroup, DoorGroup.id == DoorGroupMember.group_id)
        .outerjoin(Schedule, Schedule.id == DoorGroupMember.schedule_id)
        .where(DoorGroupMember.door_id == door_id).order_by(DoorGroup.code))).all())
    return out


async def list_doors(conn: AsyncConnection, estate: str, gateway: str | None = None) -> list[dict[str, Any]]:
    """The estate's doors by code, with their groups."""
    await require_estate(conn, estate)
    stmt = select(Door.id).where(Door.estate == estate).order_by(Door.code)
    if gateway is not None:
        stmt = stmt.where(Door.gateway == gateway)
    return [await get_door(conn, door_id) for door_id in (await conn.execute(stmt)).scalars()]


async def door_by_code(conn: AsyncConnection, estate: str, code: str) -> Any:
    """The door row with this code in the estate, or None."""
    return (await conn.execute(select(Door).where(Door.estate == estate, Door.code == code))).first()


async def _check_readers(conn: AsyncConnection, estate: str, gateway: str, readers: list[str],
                         exclude: int | None) -> None:
    if len(set(readers)) != len(readers):
        raise Invalid("readers", "a reader is listed twice")
    stmt = select(Door.code, Door.readers).where(Door.estate == estate, Door.gateway == gateway)
    if exclude is not None:
        stmt = stmt.where(Door.id != exclude)
    for code, taken in (await conn.execute(stmt)).all():
        if clash := set(readers) & set(taken):
            raise Conflict(f"readers: {sorted(clash)[0]!r} on {gateway} already belongs to door {code!r}")


async def _memberships(conn: AsyncConnection, estate: str,
                       groups: dict[str, str | None]) -> list[tuple[int, int | None]]:
    """(group id, schedule id) for each group code -> schedule code, or Invalid naming what is missing."""
    found_groups = dict((await conn.execute(select(DoorGroup.code, DoorGroup.id).where(
        DoorGroup.estate == estate, DoorGroup.code.in_(list(groups))))).all())
    wanted = {s for s in groups.values() if s is not None}
    found_schedules = dict((await conn.execute(select(Schedule.code, Schedule.id).where(
        Schedule.estate == estate, Schedule.code.in_(list(wanted))))).all()) if wanted else {}
    out = []
    for group, schedule in sorted(groups.items()):
        if group not in found_groups:
            raise Invalid(f"groups.{group}", f"estate {estate!r} has no door group {group!r}")
        if schedule is not None and schedule not in found_schedules:
            raise Invalid(f"groups.{group}", f"estate {estate!r} has no schedule {schedule!r}")
        out.append((found_groups[group], None if schedule is None else found_schedules[schedule]))
    return out


async def _set_groups(conn: AsyncConnection, estate: str, door_id: int, groups: dict[str, str | None]) -> None:
    pairs = await _memberships(conn, estate, groups)
    await conn.execute(DoorGroupMember.__table__.delete().where(DoorGroupMember.door_id == door_id))
    if pairs:
        await conn.execute(insert(DoorGroupMember), [
            {"estate": estate, "door_id": door_id, "group_id": g, "schedule_id": s} for g, s in pairs])


async def create_door(conn: AsyncConnection, actor: Principal, estate: str, body: DoorCreate) -> dict[str, Any]:
    """Add a door of a gateway; its code must be unique in the estate (every gateway caches every door)."""
    await require_estate(conn, estate)
    if await door_by_code(conn, estate, body.code) is not None:
        raise Conflict(f"code: estate {estate!r} already has a door {body.code!r}")
    await _check_readers(conn, estate, body.gateway, body.readers, None)
    values = body.model_dump(exclude={"groups"})
    door_id = (await conn.execute(insert(Door).values(estate=estate, created_at=wire.utc_now(), **values)
                                  .returning(Door.id))).scalar_one()
    await _set_groups(conn, estate, door_id, body.groups)
    return await _changed(conn, actor, door_id, None, "create")


async def update_door(conn: AsyncConnection, actor: Principal, door_id: int, body: DoorUpdate) -> dict[str, Any]:
    """Change a door; `groups`, when given, replaces all its memberships."""
    before = await get_door(conn, door_id)
    estate = before["estate"]
    given = changes(body, frozenset({"anti_passback"}))
    if "readers" in given or "gateway" in given:
        await _check_readers(conn, estate, given.get("gateway", before["gateway"]),
                             given.get("readers", before["readers"]), door_id)
    groups = given.pop("groups", None)
    if given:
        await conn.execute(update(Door).where(Door.id == door_id).values(**given))
    if groups is not None:
        await _set_groups(conn, estate, door_id, groups)
    return await _changed(conn, actor, door_id, before, "update")


async def _changed(conn: AsyncConnection, actor: Principal, door_id: int, before: dict[str, Any] | None,
                   action: str) -> dict[str, Any]:
    after = await get_door(conn, door_id)
    logged = await changelog.append(conn, after["estate"], [await records.door(conn, door_id)])
    await audit(conn, actor, "door", action, door_id, after["estate"], before, after)
    return {**after, **logged.fields()}


async def delete_door(conn: AsyncConnection, actor: Principal, door_id: int) -> dict[str, Any]:
    """Remove a door (its access log and remote opens keep its code)."""
    before = await get_door(conn, door_id)
    await conn.execute(DoorGroupMember.__table__.delete().where(DoorGroupMember.door_id == door_id))
    await conn.execute(Door.__table__.delete().where(Door.id == door_id))
    logged = await changelog.append(conn, before["estate"], [records.deleted("doors", before["code"])])
    await audit(conn, actor, "door", "delete", door_id, before["estate"], before, None)
    return {"deleted": True, "id": door_id, "estate": before["estate"], **logged.fields()}
