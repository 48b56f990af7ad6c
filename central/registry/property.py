"""Parking spaces and common areas (公共区域) of an estate."""
from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry.common import (AreaValue, Body, Code, Label, Note, RecordId, audit, changes, load, plain,
                                     require_estate)
from central.registry.errors import Conflict, Invalid
from central.registry.models import CommonArea, ParkingSpace, Unit

ParkingKind = Literal["owned", "rented", "temporary"]


class ParkingCreate(Body):
    code: Code
    kind: ParkingKind
    unit_id: RecordId | None = None
    """The unit it belongs to or is rented by; none for temporary (visitor) spaces."""


class ParkingUpdate(Body):
    code: Code | None = None
    kind: ParkingKind | None = None
    unit_id: RecordId | None = None


class CommonAreaCreate(Body):
    name: Label
    area: AreaValue | None = None
    note: Note = ""


class CommonAreaUpdate(Body):
    name: Label | None = None
    area: AreaValue | None = None
    note: Note | None = None


async def _check_unit(conn: AsyncConnection, estate: str, unit_id: int | None) -> None:
    if unit_id is not None and not await conn.scalar(
            select(Unit.id).where(Unit.id == unit_id, Unit.estate == estate)):
        raise Invalid("unit_id", f"estate {estate!r} has no unit with id {unit_id}")


async def _unique(conn: AsyncConnection, model: Any, field: str, estate: str, value: str, exclude: int | None,
                  what: str) -> None:
    stmt = select(model.id).where(model.estate == estate, getattr(model, field) == value)
    if exclude is not None:
        stmt = stmt.where(model.id != exclude)
    if await conn.scalar(stmt):
        raise Conflict(f"{field}: estate {estate!r} already has {what} {value!r}")


async def create_parking(conn: AsyncConnection, actor: Principal, estate: str, body: ParkingCreate) -> dict[str, Any]:
    """Add a parking space; its code is unique in the estate."""
    await require_estate(conn, estate)
    await _unique(conn, ParkingSpace, "code", estate, body.code, None, "a parking space")
    await _check_unit(conn, estate, body.unit_id)
    space_id = (await conn.execute(insert(ParkingSpace).values(estate=estate, **body.model_dump())
                                   .returning(ParkingSpace.id))).scalar_one()
    after = await get_parking(conn, space_id)
    await audit(conn, actor, "parking_space", "create", space_id, estate, None, after)
    return after


async def get_parking(conn: AsyncConnection, space_id: int) -> dict[str, Any]:
    return plain(await load(conn, ParkingSpace, space_id, "parking space"))


async def list_parking(conn: AsyncConnection, estate: str, *, kind: str | None = None,
                       only_units: set[int] | None = None) -> list[dict[str, Any]]:
    """Parking spaces by code; `only_units` keeps those of given units (a resident's own)."""
    await require_estate(conn, estate)
    stmt = select(ParkingSpace).where(ParkingSpace.estate == estate).order_by(ParkingSpace.code)
    if kind is not None:
        stmt = stmt.where(ParkingSpace.kind == kind)
    if only_units is not None:
        stmt = stmt.where(ParkingSpace.unit_id.in_(sorted(only_units)))
    return [plain(row) for row in (await conn.execute(stmt)).all()]


async def update_parking(conn: AsyncConnection, actor: Principal, space_id: int,
                         body: ParkingUpdate) -> dict[str, Any]:
    before = await get_parking(conn, space_id)
    estate = before["estate"]
    given = changes(body, frozenset({"unit_id"}))
    if "code" in given:
        await _unique(conn, ParkingSpace, "code", estate, given["code"], space_id, "a parking space")
    await _check_unit(conn, estate, given.get("unit_id"))
    if given:
        await conn.execute(update(ParkingSpace).where(ParkingSpace.id == space_id).values(**given))
    after = await get_parking(conn, space_id)
    await audit(conn, actor, "parking_space", "update", space_id, estate, before, after)
    return after


async def delete_parking(conn: AsyncConnection, actor: Principal, space_id: int) -> None:
    before = await get_parking(conn, space_id)
    await conn.execute(ParkingSpace.__table__.delete().where(ParkingSpace.id == space_id))
    await audit(conn, actor, "parking_space", "delete", space_id, before["estate"], before, None)


async def create_common_area(conn: AsyncConnection, actor: Principal, estate: str,
                             body: CommonAreaCreate) -> dict[str, Any]:
    """Add a common area (lobby, garden, clubhouse); its name is unique in the estate."""
    await require_estate(conn, estate)
    await _unique(conn, CommonArea, "name", estate, body.name, None, "a common area")
    area_id = (await conn.execute(insert(CommonArea).values(estate=estate, **body.model_dump())
                                  .returning(CommonArea.id))).scalar_one()
    after = await get_common_area(conn, area_id)
    await audit(conn, actor, "common_area", "create", area_id, estate, None, after)
    return after


async def get_common_area(conn: AsyncConnection, area_id: int) -> dict[str, Any]:
    return plain(await load(conn, CommonArea, area_id, "common area"))


async def list_common_areas(conn: AsyncConnection, estate: str) -> list[dict[str, Any]]:
    await require_estate(conn, estate)
    stmt = select(CommonArea).where(CommonArea.estate == estate).order_by(CommonArea.name)
    return [plain(row) for row in (await conn.execute(stmt)).all()]


async def update_common_area(conn: AsyncConnection, actor: Principal, area_id: int,
                             body: CommonAreaUpdate) -> dict[str, Any]:
    before = await get_common_area(conn, area_id)
    given = changes(body, frozenset({"area"}))
    if "name" in given:
        await _unique(conn, CommonArea, "name", before["estate"], given["name"], area_id, "a common area")
    if given:
        await conn.execute(update(CommonArea).where(CommonArea.id == area_id).values(**given))
    after = await get_common_area(conn, area_id)
    await audit(conn, actor, "common_area", "update", area_id, before["estate"], before, after)
    return after


async def delete_common_area(conn: AsyncConnection, actor: Principal, area_id: int) -> None:
    before = await get_common_area(conn, area_id)
    await conn.execute(CommonArea.__table__.delete().where(CommonArea.id == area_id))
    await audit(conn, actor, "common_area", "delete", area_id, before["estate"], before, None)
