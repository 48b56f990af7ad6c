"""Estates and their buildings."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry.common import (Body, Code, EstateCode, Label, Note, ShortNote, audit, changes, load, plain,
                                     require_estate)
from central.registry.errors import Conflict, Invalid
from central.registry.models import Building, Estate, Unit
from estatelink import wire


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as Asia/Shanghai") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_zone)]
Floors = Annotated[int, Field(ge=1, le=300)]


class EstateCreate(Body):
    code: EstateCode
    name: Label
    address: Note = ""
    timezone: TimeZoneName = "Asia/Shanghai"


class EstateUpdate(Body):
    name: Label | None = None
    address: Note | None = None
    timezone: TimeZoneName | None = None


class BuildingCreate(Body):
    code: Code
    name: ShortNote = ""
    floors: Floors | None = None


class BuildingUpdate(Body):
    code: Code | None = None
    name: ShortNote | None = None
    floors: Floors | None = None


async def create_estate(conn: AsyncConnection, actor: Principal, body: EstateCreate) -> dict[str, Any]:
    """Register an estate under the id its gateways use on the wire."""
    if await conn.scalar(select(Estate.code).where(Estate.code == body.code)):
        raise Conflict(f"estate {body.code!r} already exists")
    values = {**body.model_dump(), "created_at": wire.utc_now()}
    await conn.execute(insert(Estate).values(**values))
    after = await get_estate(conn, body.code)
    await audit(conn, actor, "estate", "create", body.code, body.code, None, after)
    return after


async def list_estates(conn: AsyncConnection, visible: frozenset[str] | None) -> list[dict[str, Any]]:
    """Estates, by code; `visible` None means all."""
    stmt = select(Estate).order_by(Estate.code)
    if visible is not None:
        stmt = stmt.where(Estate.code.in_(sorted(visible)))
    return [plain(row) for row in (await conn.execute(stmt)).all()]


async def get_estate(conn: AsyncConnection, code: str) -> dict[str, Any]:
    return plain(await require_estate(conn, code))


async def update_estate(conn: AsyncConnection, actor: Principal, code: str, body: EstateUpdate) -> dict[str, Any]:
    before = await get_estate(conn, code)
    given = changes(body)
    if given:
        await conn.execute(update(Estate).where(Estate.code == code).values(**given))
    after = await get_estate(conn, code)
    await audit(conn, actor, "estate", "update", code, code, before, after)
    return after


async def estate_today(conn: AsyncConnection, code: str, now: datetime | None = None) -> date:
    """Today's date in the estate's time zone."""
    zone = await conn.scalar(select(Estate.timezone).where(Estate.code == code)) or "Asia/Shanghai"
    return (now or wire.utc_now()).astimezone(ZoneInfo(zone)).date()


async def _check_building_code(conn: AsyncConnection, estate: str, code: str, exclude: int | None = None) -> None:
    stmt = select(Building.id).where(Building.estate == estate, Building.code == code)
    if exclude is not None:
        stmt = stmt.where(Building.id != exclude)
    if await conn.scalar(stmt):
        raise Conflict(f"code: estate {estate!r} already has a building {code!r}")


async def create_building(conn: AsyncConnection, actor: Principal, estate: str, body: BuildingCreate) -> dict[str, Any]:
    """Add a building (楼栋) to an estate; its code is what unit numbers such as 3-1201 start with."""
    await require_estate(conn, estate)
    await _check_building_code(conn, estate, body.code)
    building_id = (await conn.execute(insert(Building).values(estate=estate, **body.model_dump())
                                      .returning(Building.id))).scalar_one()
    after = await get_building(conn, building_id)
    await audit(conn, actor, "building", "create", building_id, estate, None, after)
    return after


async def list_buildings(conn: AsyncConnection, estate: str) -> list[dict[str, Any]]:
    """An estate's buildings with their unit counts."""
    await require_estate(conn, estate)
    counts = select(Unit.building_id, func.count().label("units")).group_by(Unit.building_id).subquery()
    stmt = (select(Building, func.coalesce(counts.c.units, 0).label("units"))
            .outerjoin(counts, counts.c.building_id == Building.id)
            .where(Building.estate == estate).order_by(Building.code))
    return [plain(row) for row in (await conn.execute(stmt)).all()]


async def get_building(conn: AsyncConnection, building_id: int) -> dict[str, Any]:
    row = plain(await load(conn, Building, building_id, "building"))
    row["units"] = await conn.scalar(select(func.count()).where(Unit.building_id == building_id))
    return row


async def update_building(conn: AsyncConnection, actor: Principal, building_id: int,
                          body: BuildingUpdate) -> dict[str, Any]:
    before = await get_building(conn, building_id)
    given = changes(body, nullable=frozenset({"floors"}))
    if "code" in given:
        await _check_building_code(conn, before["estate"], given["code"], exclude=building_id)
    if given:
        await conn.execute(update(Building).where(Building.id == building_id).values(**given))
    after = await get_building(conn, building_id)
    await audit(conn, actor, "building", "update", building_id, before["estate"], before, after)
    return after


async def delete_building(conn: AsyncConnection, actor: Principal, building_id: int) -> None:
    """Remove a building entered by mistake; one with units stays."""
    before = await get_building(conn, building_id)
    if before["units"]:
        raise Conflict(f"building {before['code']!r} has {before['units']} unit(s); delete or move them first")
    await conn.execute(Building.__table__.delete().where(Building.id == building_id))
    await audit(conn, actor, "building", "delete", building_id, before["estate"], before, None)


async def building_by_code(conn: AsyncConnection, estate: str, code: str, field: str = "building") -> int:
    """The id of the estate's building with this code, or Invalid naming the field."""
    found = await conn.scalar(select(Building.id).where(Building.estate == estate, Building.code == code))
    if found is None:
        raise Invalid(field, f"estate {estate!r} has no building {code!r}")
    return found
