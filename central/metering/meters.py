"""Meters at a point over time: install one where none is fitted, replace the fitted one, bind it to a gateway.

A replacement is one transaction: the old meter is removed showing its final reading, the new one fitted
showing its first, and both are stored as readings at the same instant, so consumption bridges the two.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.metering.common import FINAL, FIRST, INVALID, MANUAL, Instant, RegisterValue, check_value, utc
from central.metering.errors import Conflict, Invalid, NotFound
from central.metering.models import Meter, MeterReading
from central.metering.readings import FUTURE_SLACK, Serial, add_reading, get_reading
from central.registry.common import Body, audit, changes, plain
from estatelink import wire

GatewayId = Annotated[str, StringConstraints(pattern=wire.ID_PATTERN)]
DeviceId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Model = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
RegisterName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""A register's name as the gateway names it in `meter.reading` events: 1 to 64 of a-z, 0-9 and '_', starting
with a letter (the rule of edge_config/meter_bus.py for Modbus register names; DL/T 645 and CJ/T 188 names keep it)."""


class _Binding(Body):
    gateway: GatewayId | None = None
    """With device: the gateway and its device id the meter is read through, when networked."""
    device: DeviceId | None = None
    billing_register: RegisterName | None = Field(None, alias="register")
    """`register` (a Python name pydantic's models already use): only with a binding, the register of the device's
    readings that is the meter's cumulative counter, e.g. "combined_active_energy"; without it, a well-known
    counter (docs/meters.md, "Which register bills")."""

    @model_validator(mode="after")
    def _both_or_neither(self) -> _Binding:
        if (self.gateway is None) != (self.device is None):
            raise ValueError("give gateway and device together (or neither, for a meter read by hand)")
        return self


class NewMeter(_Binding):
    serial: Serial
    model: Model = ""
    first_reading: RegisterValue
    """The register when fitted, as a string."""


class MeterInstall(NewMeter):
    installed_at: Instant


class MeterReplace(Body):
    at: Instant
    old_final: RegisterValue
    """The old meter's register when removed."""
    new: NewMeter
    """The new meter; without gateway and device it is read through the old meter's, if any (and by its register,
    unless register is given)."""


class MeterUpdate(_Binding):
    model: Model | None = None


async def get_meter(conn: AsyncConnection, meter_id: int) -> dict[str, Any]:
    """One meter."""
    row = (await conn.execute(select(Meter).where(Meter.id == meter_id))).first()
    if row is None:
        raise NotFound(f"no meter with id {meter_id}")
    return plain(row)


async def list_meters(conn: AsyncConnection, point_id: int) -> list[dict[str, Any]]:
    """Every meter ever fitted at the point, oldest first."""
    stmt = select(Meter).where(Meter.meter_point_id == point_id).order_by(Meter.installed_at, Meter.id)
    return [plain(row) for row in (await conn.execute(stmt)).all()]


async def _check_free(conn: AsyncConnection, estate: str, body: _Binding, serial: str | None,
                      exclude: int | None = None) -> None:
    fitted = select(Meter.id).where(Meter.estate == estate, Meter.removed_at.is_(None))
    if exclude is not None:
        fitted = fitted.where(Meter.id != exclude)
    if serial is not None and await conn.scalar(fitted.where(Meter.serial == serial)):
        raise Conflict(f"serial: meter {serial} is fitted elsewhere in estate {estate!r}; replace it there first")
    if body.gateway is not None and await conn.scalar(fitted.where(Meter.gateway == body.gateway,
                                                                   Meter.device == body.device)):
        raise Conflict(f"device: {body.gateway}/{body.device} already reads another fitted meter")


def _when(value: datetime, field: str) -> datetime:
    at = utc(value)
    if at > wire.utc_now() + FUTURE_SLACK:
        raise Invalid(field, f"{value.isoformat()} is in the future")
    return at


def _check_register(gateway: str | None, register: str | None, field: str) -> None:
    if register is not None and gateway is None:
        raise Invalid(field, "names the register of a gateway device's readings: bind the meter to one (gateway "
                             "and device) too, or leave register out for a meter read by hand")


async def _fit(conn: AsyncConnection, actor: Principal, point: Any, body: NewMeter, at: datetime,
               binding: tuple[str | None, str | None, str | None]) -> dict[str, Any]:
    check_value(point, body.first_reading, "first_reading")
    meter_id = (await conn.execute(insert(Meter).values(
        estate=point.estate, meter_point_id=point.id, serial=body.serial, model=body.model, installed_at=at,
        first_reading=body.first_reading, gateway=binding[0], device=binding[1], register=binding[2])
        .returning(Meter.id))).scalar_one()
    meter = (await conn.execute(select(Meter).where(Meter.id == meter_id))).one()
    after = plain(meter)
    await audit(conn, actor, "meter", "install", meter_id, point.estate, None, after)
    reading_id = await add_reading(conn, point, meter, at, body.first_reading, source="manual",
                                   flags=[MANUAL, FIRST], note="fitted", check=False)
    await audit(conn, actor, "reading", "create", reading_id, point.estate, None, await get_reading(conn, reading_id))
    return after


async def install_meter(conn: AsyncConnection, actor: Principal, point: Any, body: MeterInstall) -> dict[str, Any]:
    """Fit a meter where none is fitted, after any earlier meter's removal; its first reading is stored."""
    at = _when(body.installed_at, "installed_at")
    if await conn.scalar(select(Meter.serial).where(Meter.meter_point_id == point.id, Meter.removed_at.is_(None))):
        raise Conflict(f"{point.name!r} already has a meter fitted: replace it instead")
    last_removed = await conn.scalar(select(func.max(Meter.removed_at)).where(Meter.meter_point_id == point.id))
    if last_removed is not None and at < utc(last_removed):
        raise Invalid("installed_at", f"is before the last meter was removed at {utc(last_removed).isoformat()}")
    _check_register(body.gateway, body.billing_register, "register")
    await _check_free(conn, point.estate, body, body.serial)
    return await _fit(conn, actor, point, body, at, (body.gateway, body.device, body.billing_register))


async def replace_meter(conn: AsyncConnection, actor: Principal, point: Any, body: MeterReplace) -> dict[str, Any]:
    """Remove the fitted meter showing old_final and fit the new one showing its first reading, at one instant."""
    at = _when(body.at, "at")
    old = (await conn.execute(select(Meter).where(Meter.meter_point_id == point.id,
                                                  Meter.removed_at.is_(None)))).first()
    if old is None:
        raise Conflict(f"{point.name!r} has no meter fitted: install one instead")
    if body.new.serial == old.serial:
        # Its final and first readings would share serial and instant, which the consumption rules refuse.
        raise Invalid("new.serial", f"{old.serial} is the meter being removed; a replacement fits another meter")
    if at <= utc(old.installed_at):
        raise Invalid("at", f"meter {old.serial} was only fitted at {utc(old.installed_at).isoformat()}")
    later = [utc(r.at) for r in (await conn.execute(select(MeterReading.at, MeterReading.flags).where(
        MeterReading.meter_id == old.id, MeterReading.at >= at))).all() if INVALID not in r.flags]
    if later:
        raise Conflict(f"at: meter {old.serial} has readings up to {max(later).isoformat()}; replace it after them "
                       "or invalidate them")
    check_value(point, body.old_final, "old_final")
    given = body.new.model_fields_set
    if {"gateway", "device"} & given:
        binding = (body.new.gateway, body.new.device, body.new.billing_register)
    else:  # read as the old meter was, unless the new one bills from another register
        binding = (old.gateway, old.device,
                   body.new.billing_register if "billing_register" in given else old.register)
    _check_register(binding[0], binding[2], "new.register")
    await _check_free(conn, point.estate, _Binding(gateway=binding[0], device=binding[1]), body.new.serial,
                      exclude=old.id)
    before = plain(old)
    await conn.execute(update(Meter).where(Meter.id == old.id).values(removed_at=at, final_reading=body.old_final))
    removed = (await conn.execute(select(Meter).where(Meter.id == old.id))).one()
    await audit(conn, actor, "meter", "remove", old.id, point.estate, before, plain(removed))
    final_id = await add_reading(conn, point, removed, at, body.old_final, source="manual", flags=[MANUAL, FINAL],
                                 note="removed")
    await audit(conn, actor, "reading", "create", final_id, point.estate, None, await get_reading(conn, final_id))
    new = await _fit(conn, actor, point, body.new, at, binding)
    return {"removed": plain(removed), "fitted": new}


async def update_meter(conn: AsyncConnection, actor: Principal, meter_id: int, body: MeterUpdate) -> dict[str, Any]:
    """Change a meter's model, bind it to (or unbind it from) a gateway device, or name the register it bills from.

    A binding moved to another device keeps its register unless register is given; unbinding clears it."""
    before = await get_meter(conn, meter_id)
    given = changes(body, frozenset({"gateway", "device", "billing_register"}))
    if "billing_register" in given:
        given["register"] = given.pop("billing_register")
    if ("gateway" in given) != ("device" in given):
        raise Invalid("gateway", "give gateway and device together (both null to unbind)")
    gateway = given["gateway"] if "gateway" in given else before["gateway"]
    _check_register(gateway, given.get("register"), "register")
    if gateway is None and before["register"] is not None:
        given["register"] = None
    if given.get("gateway") is not None and before["removed_at"] is None:
        await _check_free(conn, before["estate"], body, None, exclude=meter_id)
    if given:
        await conn.execute(update(Meter).where(Meter.id == meter_id).values(**given))
    after = await get_meter(conn, meter_id)
    await audit(conn, actor, "meter", "update", meter_id, before["estate"], before, after)
    return after

