"""The wire records of central's rows: each built as estatelink.access_records defines it and parsed by it.

Parsing what we build means a record central logs is one a gateway accepts; a RecordError here is a value the
services let through that the wire cannot carry, reported as Invalid naming the field.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access.changelog import Change
from central.access.common import holder_id, printable, utc
from central.access.errors import Invalid
from central.access.models import Card, Door, DoorGroup, DoorGroupMember, Schedule
from central.registry.models import Resident, Staff
from estatelink.access_records import Record, RecordError, parse


def _parse(kind: str, raw: dict[str, Any]) -> Record:
    try:
        return parse(kind, raw)
    except RecordError as exc:
        raise Invalid(exc.field or kind, str(exc)) from None


def _instant(value: Any) -> str | None:
    value = utc(value)
    return None if value is None else value.isoformat()


async def holder_name(conn: AsyncConnection, resident_id: int | None, staff_id: int | None) -> str:
    """The holder's name from the registry, as a credential record carries it."""
    if resident_id is not None:
        name = await conn.scalar(select(Resident.name).where(Resident.id == resident_id))
    else:
        name = await conn.scalar(select(Staff.name).where(Staff.id == staff_id))
    return printable(name or "", holder_id(resident_id, staff_id))


def credential_of(card: Any, name: str | None) -> Change:
    """The credential record of a card row (with the access_cards columns) whose holder is called `name`."""
    raw = {"card": card.card, "holder_id": holder_id(card.resident_id, card.staff_id),
           "holder_name": printable(name or "", holder_id(card.resident_id, card.staff_id)),
           "holder_kind": "resident" if card.resident_id is not None else "staff", "state": card.state,
           "door_groups": sorted(set(card.door_groups)), "valid_from": _instant(card.valid_from),
           "valid_until": _instant(card.valid_until)}
    return Change("credentials", card.card, _parse("credentials", raw))


async def credential(conn: AsyncConnection, card: Any) -> Change:
    """The credential record of a card row, with its holder's name from the registry."""
    return credential_of(card, await holder_name(conn, card.resident_id, card.staff_id))


async def card_change(conn: AsyncConnection, card_id: int) -> Change:
    """The credential record of the card with this id, as it is now."""
    row = (await conn.execute(select(Card).where(Card.id == card_id))).one()
    return await credential(conn, row)


def door_group(row: Any) -> Change:
    """The door group record of a door_groups row."""
    raw = {"id": row.code, "name": printable(row.name, row.code)}
    return Change("door_groups", row.code, _parse("door_groups", raw))


def schedule(row: Any) -> Change:
    """The schedule record of an access_schedules row."""
    raw = {"id": row.code, "timezone": row.timezone, "weekly": row.weekly, "holidays": row.holidays,
           "holiday_intervals": row.holiday_intervals}
    return Change("schedules", row.code, _parse("schedules", raw))


def memberships() -> Any:
    """(door id, group code, schedule code or null) of every door group membership, to filter."""
    return (select(DoorGroupMember.door_id, DoorGroup.code, Schedule.code).select_from(DoorGroupMember)
            .join(DoorGroup, DoorGroup.id == DoorGroupMember.group_id)
            .outerjoin(Schedule, Schedule.id == DoorGroupMember.schedule_id))


def door_of(row: Any, groups: dict[str, str | None]) -> Change:
    """The door record of a doors row in these groups (group code -> schedule code or null)."""
    raw = {"id": row.code, "name": printable(row.name, row.code), "groups": groups, "anti_passback": row.anti_passback}
    return Change("doors", row.code, _parse("doors", raw))


async def door(conn: AsyncConnection, door_id: int) -> Change:
    """The door record of the door with this id: its groups, each with the schedule it follows there."""
    row = (await conn.execute(select(Door).where(Door.id == door_id))).one()
    members = await conn.execute(memberships().where(DoorGroupMember.door_id == door_id))
    return door_of(row, {group: sched for _, group, sched in members})


def deleted(kind: str, key: str) -> Change:
    """A record the gateways should forget."""
    return Change(kind, key, None)
