"""Export an estate's records as the same sheets the importer reads: exporting and re-importing changes nothing.

Identity numbers are never exported (a blank cell keeps the stored number on re-import); units list one row
per current occupant, or one bare row when nobody lives there.
"""
from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.registry.estates import estate_today
from central.registry.models import (Building, Occupancy, ParkingSpace, Resident, Staff, StaffCard, Unit,
                                     Vehicle)
from central.transfer.sheets import ORDER, SHEETS
from central.transfer.tables import FileProblem, Format, write_csv, write_xlsx

Language = Literal["en", "zh"]


def headers(sheet: str, language: Language) -> list[str]:
    """Column headers: the English keys, or the first Chinese name of each column."""
    columns = SHEETS[sheet].columns
    if language == "en":
        return [c.key for c in columns]
    return [next((h for h in c.headers if not h.isascii()), c.key) for c in columns]


async def _rows(conn: AsyncConnection, estate: str, sheet: str) -> list[list[Any]]:
    if sheet == "buildings":
        stmt = select(Building.code, Building.name, Building.floors).where(Building.estate == estate)
        return [list(r) for r in await conn.execute(stmt.order_by(Building.code))]
    if sheet == "units":
        return await _unit_rows(conn, estate)
    if sheet == "staff":
        stmt = (select(Staff.name, Staff.phone, Staff.position, Staff.shift, Staff.active, Staff.joined_on,
                       StaffCard.card).outerjoin(StaffCard, StaffCard.staff_id == Staff.id)
                .where(Staff.estate == estate).order_by(Staff.id, StaffCard.id))
        return [list(r) for r in await conn.execute(stmt)]
    if sheet == "parking":
        stmt = (select(ParkingSpace.code, ParkingSpace.kind, Building.code, Unit.number)
                .outerjoin(Unit, Unit.id == ParkingSpace.unit_id).outerjoin(Building, Building.id == Unit.building_id)
                .where(ParkingSpace.estate == estate).order_by(ParkingSpace.code))
        return [list(r) for r in await conn.execute(stmt)]
    if sheet == "vehicles":
        stmt = (select(Vehicle.plate, Resident.phone, Vehicle.description)
                .join(Resident, Resident.id == Vehicle.resident_id)
                .where(Vehicle.estate == estate).order_by(Vehicle.plate_key))
        return [list(r) for r in await conn.execute(stmt)]
    raise FileProblem(f"unknown sheet {sheet!r}; the sheets are {', '.join(SHEETS)}")


async def _unit_rows(conn: AsyncConnection, estate: str) -> list[list[Any]]:
    today = await estate_today(conn, estate)
    occupants: dict[int, list[Any]] = {}
    stmt = (select(Occupancy.unit_id, Resident.name, Occupancy.relation, Resident.phone, Resident.email,
                   Occupancy.move_in).join(Resident, Resident.id == Occupancy.resident_id)
            .where(Occupancy.estate == estate, Occupancy.move_in <= today,
                   or_(Occupancy.move_out.is_(None), Occupancy.move_out > today))
            .order_by(Occupancy.id))
    for unit_id, name, relation, phone, email, move_in in await conn.execute(stmt):
        occupants.setdefault(unit_id, []).append([name, relation, phone, email, None, move_in])
    stmt = (select(Unit.id, Building.code, Unit.number, Unit.floor, Unit.layout, Unit.built_area, Unit.usable_area,
                   Unit.use, Unit.status).join(Building, Building.id == Unit.building_id)
            .where(Unit.estate == estate).order_by(Building.code, Unit.number))
    rows = []
    for unit_id, *unit in await conn.execute(stmt):
        for person in occupants.get(unit_id) or [[None] * 6]:
            rows.append([*unit, *person])
    return rows


def _sheets_in(which: str | None) -> tuple[str, ...]:
    if which is None:
        return ORDER
    if which not in SHEETS:
        raise FileProblem(f"unknown sheet {which!r}; the sheets are {', '.join(SHEETS)}")
    return (which,)


async def export_file(conn: AsyncConnection, estate: str, *, sheet: str | None, fmt: Format,
                      language: Language = "en") -> bytes:
    """One sheet as CSV, or one or every sheet as an XLSX workbook."""
    names = _sheets_in(sheet)
    if fmt == "csv":
        if len(names) != 1:
            raise FileProblem("a CSV holds one sheet; name it, or export XLSX for all of them")
        return write_csv(headers(names[0], language), await _rows(conn, estate, names[0]))
    tables = []
    for name in names:
        title = name if language == "en" else SHEETS[name].titles[1]
        tables.append((title, headers(name, language), await _rows(conn, estate, name)))
    return write_xlsx(tables)

