"""Rebuilding an estate's records from the tables they are made of, and logging what differs as one version.

Records carry what other modules own (a holder's name is the registry's): a resident renamed there changes no
card here. `rebuild` compares every record with what the tables say now, so an operator's resync (or a
scheduled one) brings the gateways up to date, and it doubles as a check that the change log missed nothing.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access import changelog, records
from central.access.changelog import Change
from central.access.models import AccessRecord, Card, Door, DoorGroup, DoorGroupMember, Schedule
from central.registry.models import Resident, Staff


async def expected(conn: AsyncConnection, estate: str) -> list[Change]:
    """Every record of the estate as its tables say it should be now."""
    out = [records.door_group(row) for row in await conn.execute(select(DoorGroup).where(DoorGroup.estate == estate))]
    out += [records.schedule(row) for row in await conn.execute(select(Schedule).where(Schedule.estate == estate))]
    groups: dict[int, dict[str, str | None]] = {}
    for door_id, group, schedule in await conn.execute(records.memberships().where(DoorGroupMember.estate == estate)):
        groups.setdefault(door_id, {})[group] = schedule
    out += [records.door_of(row, groups.get(row.id, {}))
            for row in await conn.execute(select(Door).where(Door.estate == estate))]
    current: dict[str, tuple[object, str | None]] = {}
    rows = await conn.execute(
        select(Card, Resident.name.label("resident_name"), Staff.name.label("staff_name"))
        .outerjoin(Resident, Resident.id == Card.resident_id).outerjoin(Staff, Staff.id == Card.staff_id)
        .where(Card.estate == estate).order_by(Card.id))
    for row in rows:
        held = current.get(row.card)
        if held is None or held[0].state == "returned":  # a live row wins; among returned ones the latest
            current[row.card] = (row, row.resident_name if row.resident_id is not None else row.staff_name)
    out += [records.credential_of(row, name) for row, name in current.values()]
    return out


async def rebuild(conn: AsyncConnection, estate: str) -> changelog.Logged:
    """Log whatever differs between the records and the tables, as one version."""
    wanted = await expected(conn, estate)
    keys = {(change.kind, change.key) for change in wanted}
    held = await conn.execute(select(AccessRecord.kind, AccessRecord.key).where(AccessRecord.estate == estate))
    stale = [records.deleted(kind, key) for kind, key in held if (kind, key) not in keys]
    return await changelog.append(conn, estate, [*wanted, *stale])
