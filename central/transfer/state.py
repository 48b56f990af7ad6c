"""An estate's records held in memory by their natural keys, so 100,000 rows are checked without 100,000 queries.

The planner reads and extends this model: what an earlier row (or sheet) will create is found by later rows
exactly like what is already stored. A Ref stands for a row's id, known at once for stored rows and filled in
by the writer when a new row is inserted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.registry.common import digits, name_key, plate_key
from central.registry.models import (Building, Occupancy, ParkingSpace, Resident, Staff, StaffCard, Unit,
                                     Vehicle)

UnitKey = tuple[str, str]
"""(building code, unit number)."""


@dataclass(eq=False, slots=True)
class Ref:
    id: int | None = None

    @property
    def is_new(self) -> bool:
        return self.id is None


@dataclass(eq=False, slots=True)
class Record:
    """A stored or planned row: its id and the fields an import may compare and change."""

    ref: Ref
    values: dict[str, Any]
    row: int | None = None
    """The file row that planned it; None for a stored record."""
    links: dict[str, Any] = field(default_factory=dict)
    """Natural keys of what it points at (a unit key, an owner's record) and derived lookups."""


@dataclass(slots=True)
class EstateState:
    code: str
    buildings: dict[str, Record] = field(default_factory=dict)
    units: dict[UnitKey, Record] = field(default_factory=dict)
    residents_by_phone: dict[str, Record] = field(default_factory=dict)
    residents_by_identity: dict[str, Record] = field(default_factory=dict)
    occupants: dict[UnitKey, list[Record]] = field(default_factory=dict)
    """Current occupancies of each unit; each record links to its resident."""
    staff_by_phone: dict[str, Record] = field(default_factory=dict)
    staff_by_name: dict[str, Record] = field(default_factory=dict)
    """Staff without a phone number, by name key."""
    cards: dict[str, Record] = field(default_factory=dict)
    parking: dict[str, Record] = field(default_factory=dict)
    vehicles: dict[str, Record] = field(default_factory=dict)
    """By plate key."""

    def unit_key_of(self, unit: Record) -> UnitKey:
        return unit.links["key"]


async def load_state(conn: AsyncConnection, estate: str, today: date) -> EstateState:
    """Everything an import of this estate may touch, keyed as rows refer to it."""
    state = EstateState(estate)
    building_codes: dict[int, str] = {}
    for row in await conn.execute(select(Building.id, Building.code, Building.name, Building.floors)
                                  .where(Building.estate == estate)):
        building_codes[row.id] = row.code
        state.buildings[row.code] = Record(Ref(row.id), {"name": row.name, "floors": row.floors})
    units_by_id: dict[int, Record] = {}
    for row in await conn.execute(select(Unit).where(Unit.estate == estate)):
        key = (building_codes[row.building_id], row.number)
        record = Record(Ref(row.id), {f: getattr(row, f) for f in UNIT_FIELDS}, links={"key": key})
        state.units[key] = units_by_id[row.id] = record
    residents: dict[int, Record] = {}
    for row in await conn.execute(select(Resident.id, Resident.name, Resident.phone, Resident.email,
                                         Resident.identity_hmac).where(Resident.estate == estate)):
        record = Record(Ref(row.id), {"name": row.name, "phone": row.phone, "email": row.email},
                        links={"identity_hmac": row.identity_hmac})
        residents[row.id] = record
        if digits(row.phone):
            state.residents_by_phone.setdefault(digits(row.phone), record)
        if row.identity_hmac:
            state.residents_by_identity[row.identity_hmac] = record
    today_open = or_(Occupancy.move_out.is_(None), Occupancy.move_out > today)
    for row in await conn.execute(select(Occupancy.id, Occupancy.resident_id, Occupancy.unit_id, Occupancy.relation)
                                  .where(Occupancy.estate == estate, today_open)):
        key = state.unit_key_of(units_by_id[row.unit_id])
        state.occupants.setdefault(key, []).append(
            Record(Ref(row.id), {"relation": row.relation}, links={"resident": residents[row.resident_id]}))
    staff: dict[int, Record] = {}
    for row in await conn.execute(select(Staff).where(Staff.estate == estate)):
        record = Record(Ref(row.id), {f: getattr(row, f) for f in STAFF_FIELDS})
        staff[row.id] = record
        if digits(row.phone):
            state.staff_by_phone.setdefault(digits(row.phone), record)
        else:
            state.staff_by_name.setdefault(name_key(row.name), record)
    for row in await conn.execute(select(StaffCard.id, StaffCard.card, StaffCard.staff_id)
                                  .where(StaffCard.estate == estate)):
        state.cards[row.card] = Record(Ref(row.id), {}, links={"staff": staff[row.staff_id]})
    for row in await conn.execute(select(ParkingSpace).where(ParkingSpace.estate == estate)):
        unit = units_by_id.get(row.unit_id) if row.unit_id else None
        state.parking[row.code] = Record(Ref(row.id), {"kind": row.kind, "unit_id": unit.ref if unit else None})
    for row in await conn.execute(select(Vehicle).where(Vehicle.estate == estate)):
        state.vehicles[plate_key(row.plate)] = Record(Ref(row.id), {"plate": row.plate,
                                                                   "description": row.description},
                                                      links={"owner": residents[row.resident_id]})
    return state


UNIT_FIELDS = ("floor", "layout", "built_area", "usable_area", "use", "status")
STAFF_FIELDS = ("name", "phone", "position", "shift", "active", "joined_on")
