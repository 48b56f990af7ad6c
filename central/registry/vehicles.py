"""Residents' vehicles; a plate is unique in an estate whatever way it was typed."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry.common import Body, RecordId, ShortNote, audit, changes, load, plain, plate_key
from central.registry.errors import Conflict, Invalid, NotFound
from central.registry.models import Resident, Vehicle


def _plate(value: str) -> str:
    key = plate_key(value)
    if not 2 <= len(key) <= 12 or not key.isalnum():
        raise ValueError("expected a plate such as 京A12345 (letters and digits; spaces, dots and dashes are ignored)")
    return key


Plate = Annotated[str, StringConstraints(max_length=16), AfterValidator(_plate)]
HIDDEN = ("plate_key", "plate_rev")


class VehicleCreate(Body):
    plate: Plate
    description: ShortNote = ""


class VehicleUpdate(Body):
    plate: Plate | None = None
    description: ShortNote | None = None
    resident_id: RecordId | None = None
    """Give the vehicle to another resident of the same estate."""


def _select() -> Any:
    return select(Vehicle, Resident.name.label("resident_name")).join(Resident, Resident.id == Vehicle.resident_id)


async def _check_plate(conn: AsyncConnection, estate: str, plate: str, exclude: int | None) -> None:
    stmt = select(Vehicle.id).where(Vehicle.estate == estate, Vehicle.plate_key == plate_key(plate))
    if exclude is not None:
        stmt = stmt.where(Vehicle.id != exclude)
    other = await conn.scalar(stmt)
    if other:
        raise Conflict(f"plate: {plate_key(plate)} is already registered in this estate (vehicle {other})")


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """The row as stored: with the plate search keys."""
    if "plate" in values:
        key = plate_key(values["plate"])
        values = {**values, "plate_key": key, "plate_rev": key[::-1]}
    return values


async def get_vehicle(conn: AsyncConnection, vehicle_id: int) -> dict[str, Any]:
    row = (await conn.execute(_select().where(Vehicle.id == vehicle_id))).first()
    if row is None:
        raise NotFound(f"no vehicle with id {vehicle_id}")
    return plain(row, hide=HIDDEN)


async def create_vehicle(conn: AsyncConnection, actor: Principal, resident_id: int,
                         body: VehicleCreate) -> dict[str, Any]:
    """Register a resident's vehicle."""
    resident = await load(conn, Resident, resident_id, "resident")
    await _check_plate(conn, resident.estate, body.plate, None)
    vehicle_id = (await conn.execute(insert(Vehicle).values(
        estate=resident.estate, resident_id=resident_id, **stored_values(body.model_dump())).returning(Vehicle.id))).scalar_one()
    after = await get_vehicle(conn, vehicle_id)
    await audit(conn, actor, "vehicle", "create", vehicle_id, resident.estate, None, after)
    return after


async def list_vehicles(conn: AsyncConnection, estate: str, *, only_residents: set[int] | None = None,
                        after: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Vehicles of an estate in id order; `only_residents` keeps those of given residents."""
    stmt = _select().where(Vehicle.estate == estate)
    if only_residents is not None:
        stmt = stmt.where(Vehicle.resident_id.in_(sorted(only_residents)))
    if after is not None:
        stmt = stmt.where(Vehicle.id > after)
    return [plain(r, hide=HIDDEN) for r in (await conn.execute(stmt.order_by(Vehicle.id).limit(limit))).all()]


async def update_vehicle(conn: AsyncConnection, actor: Principal, vehicle_id: int,
                         body: VehicleUpdate) -> dict[str, Any]:
    before = await get_vehicle(conn, vehicle_id)
    given = changes(body)
    if "plate" in given:
        await _check_plate(conn, before["estate"], given["plate"], vehicle_id)
    if "resident_id" in given and not await conn.scalar(select(Resident.id).where(
            Resident.id == given["resident_id"], Resident.estate == before["estate"])):
        raise Invalid("resident_id", f"estate {before['estate']!r} has no resident with id {given['resident_id']}")
    if given:
        await conn.execute(update(Vehicle).where(Vehicle.id == vehicle_id).values(**stored_values(given)))
    after = await get_vehicle(conn, vehicle_id)
    await audit(conn, actor, "vehicle", "update", vehicle_id, before["estate"], before, after)
    return after


async def delete_vehicle(conn: AsyncConnection, actor: Principal, vehicle_id: int) -> None:
    before = await get_vehicle(conn, vehicle_id)
    await conn.execute(Vehicle.__table__.delete().where(Vehicle.id == vehicle_id))
    await audit(conn, actor, "vehicle", "delete", vehicle_id, before["estate"], before, None)
