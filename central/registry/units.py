"""Units (房屋): number, floor, layout, areas, use and status, in a building."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry.common import AreaValue, Body, Code, audit, changes, plain
from central.registry.errors import Conflict, Invalid, NotFound
from central.registry.estates import building_by_code
from central.registry.models import Building, Occupancy, ParkingSpace, Unit

Use = Literal["residential", "shop", "office"]
Status = Literal["occupied", "vacant", "let", "renovating"]
Floor = Annotated[int, Field(ge=-10, le=300)]
Layout = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
_NULLABLE = frozenset({"floor", "built_area", "usable_area"})


def _areas_agree(built: Any, usable: Any) -> None:
    if built is not None and usable is not None and usable > built:
        raise Invalid("usable_area", f"{usable} is larger than built_area {built}")


class UnitCreate(Body):
    building: Code
    """The building's code within the estate."""
    number: Code
    floor: Floor | None = None
    layout: Layout = ""
    built_area: AreaValue | None = None
    usable_area: AreaValue | None = None
    use: Use = "residential"
    status: Status = "vacant"

    @model_validator(mode="after")
    def _areas(self) -> "UnitCreate":
        if self.built_area is not None and self.usable_area is not None and self.usable_area > self.built_area:
            raise ValueError(f"usable_area {self.usable_area} is larger than built_area {self.built_area}")
        return self


class UnitUpdate(Body):
    building: Code | None = None
    number: Code | None = None
    floor: Floor | None = None
    layout: Layout | None = None
    built_area: AreaValue | None = None
    usable_area: AreaValue | None = None
    use: Use | None = None
    status: Status | None = None


def _unit_select() -> Any:
    return select(Unit, Building.code.label("building")).join(Building, Building.id == Unit.building_id)


async def _check_number(conn: AsyncConnection, building_id: int, number: str, exclude: int | None = None) -> None:
    stmt = select(Unit.id).where(Unit.building_id == building_id, Unit.number == number)
    if exclude is not None:
        stmt = stmt.where(Unit.id != exclude)
    if await conn.scalar(stmt):
        raise Conflict(f"number: the building already has a unit {number!r}")


async def create_unit(conn: AsyncConnection, actor: Principal, estate: str, body: UnitCreate) -> dict[str, Any]:
    """Add a unit to a building of the estate; (building, number) is unique."""
    building_id = await building_by_code(conn, estate, body.building)
    await _check_number(conn, building_id, body.number)
    values = body.model_dump(exclude={"building"})
    unit_id = (await conn.execute(insert(Unit).values(estate=estate, building_id=building_id, **values)
                                  .returning(Unit.id))).scalar_one()
    after = await get_unit(conn, unit_id)
    await audit(conn, actor, "unit", "create", unit_id, estate, None, after)
    return after


async def get_unit(conn: AsyncConnection, unit_id: int) -> dict[str, Any]:
    """A unit with its building code."""
    row = (await conn.execute(_unit_select().where(Unit.id == unit_id))).first()
    if row is None:
        raise NotFound(f"no unit with id {unit_id}")
    return plain(row)


async def list_units(conn: AsyncConnection, estate: str, *, building: str | None = None, status: str | None = None,
                     only: set[int] | None = None, after: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Units of an estate in id order; `only` confines them to given ids (a resident's own units)."""
    stmt = _unit_select().where(Unit.estate == estate)
    if building is not None:
        stmt = stmt.where(Building.code == building)
    if status is not None:
        stmt = stmt.where(Unit.status == status)
    if only is not None:
        stmt = stmt.where(Unit.id.in_(sorted(only)))
    if after is not None:
        stmt = stmt.where(Unit.id > after)
    rows = (await conn.execute(stmt.order_by(Unit.id).limit(limit))).all()
    return [plain(row) for row in rows]


async def update_unit(conn: AsyncConnection, actor: Principal, unit_id: int, body: UnitUpdate) -> dict[str, Any]:
    before = await get_unit(conn, unit_id)
    given = changes(body, _NULLABLE)
    building_id = before["building_id"]
    if "building" in given:
        building_id = await building_by_code(conn, before["estate"], given.pop("building"))
        given["building_id"] = building_id
    if "number" in given or building_id != before["building_id"]:
        await _check_number(conn, building_id, given.get("number", before["number"]), exclude=unit_id)
    _areas_agree(given.get("built_area", before["built_area"]), given.get("usable_area", before["usable_area"]))
    if given:
        await conn.execute(update(Unit).where(Unit.id == unit_id).values(**given))
    after = await get_unit(conn, unit_id)
    await audit(conn, actor, "unit", "update", unit_id, before["estate"], before, after)
    return after


async def delete_unit(conn: AsyncConnection, actor: Principal, unit_id: int) -> None:
    """Remove a unit entered by mistake: one that anyone ever lived in keeps its history and stays."""
    before = await get_unit(conn, unit_id)
    if await conn.scalar(select(Occupancy.id).where(Occupancy.unit_id == unit_id).limit(1)):
        raise Conflict(f"unit {before['building']}-{before['number']} has occupancy history and cannot be deleted")
    if await conn.scalar(select(ParkingSpace.id).where(ParkingSpace.unit_id == unit_id).limit(1)):
        raise Conflict(f"unit {before['building']}-{before['number']} has parking spaces; unlink them first")
    await conn.execute(Unit.__table__.delete().where(Unit.id == unit_id))
    await audit(conn, actor, "unit", "delete", unit_id, before["estate"], before, None)


async def find_units(conn: AsyncConnection, estate: str, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Units matching what an office types: '3-1201' (building 3, unit 1201) or the unit number alone."""
    text = text.strip()
    if not text:
        return []
    numbers, wanted = {text}, [Unit.number == text]
    for sep in ("-", "#", "栋", "幢", "/"):
        code, found, number = text.partition(sep)
        number = number.strip().removesuffix("室")
        if found and code and number:
            numbers.add(number)
            wanted.append((Building.code == code.strip()) & (Unit.number == number))
    stmt = (_unit_select().where(Unit.estate == estate, Unit.number.in_(sorted(numbers)), or_(*wanted))
            .order_by(Building.code, Unit.number))
    return [plain(row) for row in (await conn.execute(stmt.limit(limit))).all()]
