"""Meter points: what is metered (a unit's supply, or what a common-area meter serves), with its register rules."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.metering.common import PositiveValue, resolution_of
from central.metering.errors import Conflict, Invalid, NotFound
from central.metering.models import Meter, MeterPoint
from central.registry.common import Body, Label, RecordId, audit, changes, plain, require_estate
from central.registry.models import CommonArea, Unit
from estatelink import wire

Kind = Literal["water", "electricity", "gas"]
EstimatePeriods = Annotated[int, Field(ge=0, le=24)]
Nights = Annotated[int, Field(ge=1, le=30)]
_RESOLUTIONS = tuple(Decimal(1).scaleb(-places) for places in range(4))
_NULLABLE = frozenset({"unit_id", "common_area_id", "leak_min_flow_per_hour", "leak_nights"})
DEFAULT_LEAK_NIGHTS = 3


class PointCreate(Body):
    kind: Kind
    name: Label
    unit_id: RecordId | None = None
    common_area_id: RecordId | None = None
    """Exactly one of unit_id and common_area_id: what the meter serves."""
    register_limit: PositiveValue
    """The register's highest value, written with its resolution: "99999.99"."""
    resolution: PositiveValue | None = None
    """1, 0.1, 0.01 or 0.001; by default the last digit of register_limit as written."""
    max_per_day: PositiveValue
    estimate_periods: EstimatePeriods = 0
    """0: a missing reading holds the period; n: estimate it from the last n periods' average daily use."""
    leak_min_flow_per_hour: PositiveValue | None = None
    """Water only: night flow of at least this much an hour counts towards a leak; unset, no leak check."""
    leak_nights: Nights | None = None
    """Water only: nights in a row of such flow that raise an alert (3 when a flow is set)."""


class PointUpdate(Body):
    name: Label | None = None
    unit_id: RecordId | None = None
    common_area_id: RecordId | None = None
    register_limit: PositiveValue | None = None
    resolution: PositiveValue | None = None
    max_per_day: PositiveValue | None = None
    estimate_periods: EstimatePeriods | None = None
    leak_min_flow_per_hour: PositiveValue | None = None
    leak_nights: Nights | None = None


def _resolution(limit: Decimal, given: Decimal | None) -> Decimal:
    if given is None:
        given = Decimal(1).scaleb(min(limit.as_tuple().exponent, 0))
    match = next((r for r in _RESOLUTIONS if r == given), None)
    if match is None:
        raise Invalid("resolution", f"expected 1, 0.1, 0.01 or 0.001, got {given}")
    if limit.quantize(match) != limit:
        raise Invalid("register_limit", f"{limit} has more decimals than the resolution {match}")
    return match


async def _check_target(conn: AsyncConnection, estate: str, values: dict[str, Any]) -> None:
    unit_id, area_id = values.get("unit_id"), values.get("common_area_id")
    if (unit_id is None) == (area_id is None):
        raise Invalid("unit_id", "give exactly one of unit_id (a unit's meter) and common_area_id (what a "
                                 "common-area meter serves)")
    model, wanted, field = (Unit, unit_id, "unit_id") if unit_id is not None else (CommonArea, area_id,
                                                                                  "common_area_id")
    if not await conn.scalar(select(model.id).where(model.id == wanted, model.estate == estate)):
        raise Invalid(field, f"estate {estate!r} has no {'unit' if model is Unit else 'common area'} {wanted}")


def _check_leak(values: dict[str, Any]) -> None:
    if values["kind"] != "water" and (values.get("leak_min_flow_per_hour") or values.get("leak_nights")):
        raise Invalid("leak_min_flow_per_hour", f"leak detection is for water points, not {values['kind']}")
    if values.get("leak_min_flow_per_hour") is None and values.get("leak_nights") is not None:
        raise Invalid("leak_nights", "set leak_min_flow_per_hour too: the flow that counts as a leak")
    if values.get("leak_min_flow_per_hour") is not None and values.get("leak_nights") is None:
        values["leak_nights"] = DEFAULT_LEAK_NIGHTS


async def _check_name(conn: AsyncConnection, estate: str, name: str, exclude: int | None = None) -> None:
    stmt = select(MeterPoint.id).where(MeterPoint.estate == estate, MeterPoint.name == name)
    if exclude is not None:
        stmt = stmt.where(MeterPoint.id != exclude)
    if await conn.scalar(stmt):
        raise Conflict(f"name: estate {estate!r} already has a meter point {name!r}")


async def create_point(conn: AsyncConnection, actor: Principal, estate: str, body: PointCreate) -> dict[str, Any]:
    """Add a meter point serving a unit or a common area; its name is unique in the estate."""
    await require_estate(conn, estate)
    values = body.model_dump()
    values["resolution"] = _resolution(body.register_limit, body.resolution)
    await _check_target(conn, estate, values)
    _check_leak(values)
    await _check_name(conn, estate, body.name)
    point_id = (await conn.execute(insert(MeterPoint).values(estate=estate, created_at=wire.utc_now(), **values)
                                   .returning(MeterPoint.id))).scalar_one()
    after = await get_point(conn, point_id)
    await audit(conn, actor, "meter_point", "create", point_id, estate, None, after)
    return after


def _select() -> Any:
    fitted = and_(Meter.meter_point_id == MeterPoint.id, Meter.removed_at.is_(None))
    return (select(MeterPoint, Meter.id.label("meter_id"), Meter.serial.label("meter_serial"))
            .outerjoin(Meter, fitted))


def _shown(row: Any) -> dict[str, Any]:
    out = plain(row)
    out["resolution"] = resolution_of(row)
    out["register_limit"] = out["register_limit"].quantize(out["resolution"])
    return out


async def point_row(conn: AsyncConnection, point_id: int) -> Any:
    """The meter point's row, or NotFound."""
    row = (await conn.execute(select(MeterPoint).where(MeterPoint.id == point_id))).first()
    if row is None:
        raise NotFound(f"no meter point with id {point_id}")
    return row


async def get_point(conn: AsyncConnection, point_id: int) -> dict[str, Any]:
    """A meter point with the meter fitted there now (meter_id and meter_serial, None when none is)."""
    row = (await conn.execute(_select().where(MeterPoint.id == point_id))).first()
    if row is None:
        raise NotFound(f"no meter point with id {point_id}")
    return _shown(row)


async def list_points(conn: AsyncConnection, estate: str, *, kind: str | None = None, unit_id: int | None = None,
                      only_units: set[int] | None = None, after: int | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
    """Meter points of an estate in id order; `only_units` confines them to those units (a resident's own)."""
    stmt = _select().where(MeterPoint.estate == estate)
    if kind is not None:
        stmt = stmt.where(MeterPoint.kind == kind)
    if unit_id is not None:
        stmt = stmt.where(MeterPoint.unit_id == unit_id)
    if only_units is not None:
        stmt = stmt.where(MeterPoint.unit_id.in_(sorted(only_units)))
    if after is not None:
        stmt = stmt.where(MeterPoint.id > after)
    return [_shown(row) for row in (await conn.execute(stmt.order_by(MeterPoint.id).limit(limit))).all()]


async def update_point(conn: AsyncConnection, actor: Principal, point_id: int, body: PointUpdate) -> dict[str, Any]:
    """Change a point's name, what it serves, or its rules; the kind stays (a new kind is a new point)."""
    before = await get_point(conn, point_id)
    given = changes(body, _NULLABLE)
    merged = {**before, **given}
    if "register_limit" in given or "resolution" in given:
        given["resolution"] = _resolution(merged["register_limit"], merged["resolution"])
    if "unit_id" in given or "common_area_id" in given:
        await _check_target(conn, before["estate"], merged)
    if "leak_min_flow_per_hour" in given or "leak_nights" in given:
        if "leak_nights" not in given and given.get("leak_min_flow_per_hour") is None:
            merged["leak_nights"] = None  # switching the check off
        _check_leak(merged)
        given["leak_nights"] = merged["leak_nights"]
    if "name" in given:
        await _check_name(conn, before["estate"], given["name"], exclude=point_id)
    if given:
        await conn.execute(update(MeterPoint).where(MeterPoint.id == point_id).values(**given))
    after = await get_point(conn, point_id)
    await audit(conn, actor, "meter_point", "update", point_id, before["estate"], before, after)
    return after
