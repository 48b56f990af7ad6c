"""What is stored about a meter point, loaded as the pure rules' types: readings, replacements, fitted meters."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.metering.common import INVALID, quality, utc
from central.metering.consumption import Reading, Replacement
from central.metering.models import Meter, MeterReading


def _fitted_at(at: datetime) -> Any:
    # At a replacement instant both meters qualify; callers take the newer one (ordered by installed_at desc).
    return (Meter.installed_at <= at) & (or_(Meter.removed_at.is_(None), Meter.removed_at >= at))


async def meter_at(conn: AsyncConnection, point_id: int, at: datetime) -> Any:
    """The meter fitted at the point at `at` (the new one at a replacement instant), or None."""
    stmt = (select(Meter).where(Meter.meter_point_id == point_id, _fitted_at(at))
            .order_by(Meter.installed_at.desc(), Meter.id.desc()).limit(1))
    return (await conn.execute(stmt)).first()


async def meter_for_device(conn: AsyncConnection, estate: str, gateway: str, devices: Sequence[str],
                           at: datetime) -> Any:
    """The meter read through one of the gateway's devices (tried in order) at `at`, or None."""
    for device in devices:
        stmt = (select(Meter).where(Meter.estate == estate, Meter.gateway == gateway, Meter.device == device,
                                    _fitted_at(at))
                .order_by(Meter.installed_at.desc(), Meter.id.desc()).limit(1))
        found = (await conn.execute(stmt)).first()
        if found is not None:
            return found
    return None


def _reading(row: Any) -> Reading:
    return Reading(utc(row.at), Decimal(row.value), row.meter_serial, quality(row.flags))


def _reading_select(point_id: int) -> Any:
    return (select(MeterReading.at, MeterReading.value, MeterReading.meter_serial, MeterReading.flags)
            .join(Meter, Meter.id == MeterReading.meter_id).where(MeterReading.meter_point_id == point_id))


async def load_readings(conn: AsyncConnection, point_id: int, since: datetime, until: datetime) -> list[Reading]:
    """The point's readings in [since, until] in time order; at a replacement instant the old meter's first."""
    stmt = (_reading_select(point_id).where(MeterReading.at >= since, MeterReading.at <= until)
            .order_by(MeterReading.at, Meter.installed_at, MeterReading.id))
    return [_reading(row) for row in (await conn.execute(stmt)).all()]


async def usable_before(conn: AsyncConnection, point_id: int, at: datetime) -> Reading | None:
    """The latest reading of the point before `at` that is not flagged invalid."""
    stmt = (_reading_select(point_id).where(MeterReading.at < at)
            .order_by(MeterReading.at.desc(), Meter.installed_at.desc(), MeterReading.id.desc()).limit(20))
    for row in (await conn.execute(stmt)).all():
        if INVALID not in row.flags:
            return _reading(row)
    return None  # twenty invalid readings in a row: nothing to compare with is the honest answer


async def load_replacements(conn: AsyncConnection, point_id: int) -> list[Replacement]:
    """Every replacement at the point: a removed meter followed by one fitted at the same instant."""
    meters = (await conn.execute(select(Meter).where(Meter.meter_point_id == point_id)
                                 .order_by(Meter.installed_at, Meter.id))).all()
    swaps = []
    for old, new in zip(meters, meters[1:]):
        if old.removed_at is not None and old.final_reading is not None and utc(old.removed_at) == utc(
                new.installed_at):
            swaps.append(Replacement(utc(old.removed_at), old.serial, Decimal(old.final_reading), new.serial,
                                     Decimal(new.first_reading)))
    return swaps
