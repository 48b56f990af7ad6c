"""Readings: stored with what was noticed on entry, entered by hand, listed, and invalidated when wrong.

A new reading is compared with the point's previous usable reading by the pure consumption rules: a step
below it that is no rollover is flagged `negative`, one above the plausible daily maximum `spike`, a value the
register cannot show `out_of_range`. The flags only inform; the period's consumption is what holds billing,
and invalidating the reading is what releases it.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.metering.common import (INVALID, MANUAL, MISMATCH, NEGATIVE, OUT_OF_RANGE, SPIKE, Instant,
                                     RegisterValue, check_value, quality, spec_of, utc)
from central.metering.consumption import EstimateRule, Quality, Reading, consumption_for_period
from central.metering.errors import Conflict, Invalid, NotFound
from central.metering.findings import Implausible, MeterMismatch, NegativeStep, OutOfRange
from central.metering.history import load_replacements, meter_at, usable_before
from central.metering.models import MeterReading
from central.registry.common import Body, Note, audit, changes, plain
from estatelink import wire

Serial = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
FUTURE_SLACK = timedelta(minutes=5)
_ENTRY_FLAGS = {NegativeStep: NEGATIVE, Implausible: SPIKE, OutOfRange: OUT_OF_RANGE, MeterMismatch: MISMATCH}


class ManualReading(Body):
    at: Instant
    value: RegisterValue
    """The register as read, as a string: "01234.56"."""
    serial: Serial | None = None
    """The serial on the meter that was read; checked against the meter fitted at that time."""
    note: Note = ""


class ReadingUpdate(Body):
    invalid: bool | None = None
    """True leaves the reading out of consumption (a misread, a spike); false counts it again."""
    note: Note | None = None


async def entry_flags(conn: AsyncConnection, point: Any, serial: str, at: datetime, value: Decimal,
                      flags: list[str]) -> list[str]:
    """`flags` plus what the pure rules notice between the point's previous usable reading and this one."""
    if Quality.INVALID in quality(flags):
        return flags
    previous = await usable_before(conn, point.id, at)
    if previous is None:
        return flags
    new = Reading(at, value, serial, quality(flags))
    swaps = [r for r in await load_replacements(conn, point.id) if previous.at <= r.at <= at]
    result = consumption_for_period([previous, new], previous.at, at, spec_of(point), estimate=EstimateRule.none(),
                                    replacements=swaps, tolerance=timedelta(0))
    noticed = [_ENTRY_FLAGS[type(f)] for f in result.findings if type(f) in _ENTRY_FLAGS]
    return flags + [f for f in dict.fromkeys(noticed) if f not in flags]


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(MeterReading.__table__)


async def add_reading(conn: AsyncConnection, point: Any, meter: Any, at: datetime, value: Decimal, *, source: str,
                      flags: list[str], note: str = "", event: tuple[str, int] | None = None,
                      check: bool = True) -> int | None:
    """Store one reading of `meter` at `point`; None when the meter (or the event) already has one then."""
    at = utc(at)
    if check:
        flags = await entry_flags(conn, point, meter.serial, at, value, flags)
    gateway, seq = event if event is not None else (None, None)
    stmt = _insert(conn).values(
        estate=point.estate, meter_point_id=point.id, meter_id=meter.id, meter_serial=meter.serial, at=at,
        value=value, source=source, flags=flags, note=note, event_gateway=gateway, event_seq=seq,
        created_at=wire.utc_now()).on_conflict_do_nothing().returning(MeterReading.id)
    return (await conn.execute(stmt)).scalar_one_or_none()


async def fitted_meter(conn: AsyncConnection, point: Any, at: datetime, serial: str | None) -> Any:
    """The meter fitted at `at`, checked against the serial the reader saw."""
    meter = await meter_at(conn, point.id, at)
    if meter is None:
        raise Invalid("at", f"no meter was fitted at {point.name!r} at {at.isoformat()}")
    if serial is not None and serial != meter.serial:
        raise Invalid("serial", f"meter {meter.serial} was fitted at {point.name!r} at {at.isoformat()}, "
                                f"not {serial}")
    return meter


async def add_manual(conn: AsyncConnection, actor: Principal, point: Any, body: ManualReading) -> dict[str, Any]:
    """Record a reading taken by hand from a meter that is not networked (or whose network is down)."""
    at = utc(body.at)
    if at > wire.utc_now() + FUTURE_SLACK:
        raise Invalid("at", f"{body.at.isoformat()} is in the future")
    check_value(point, body.value)
    meter = await fitted_meter(conn, point, at, body.serial)
    reading_id = await add_reading(conn, point, meter, at, body.value, source="manual", flags=[MANUAL],
                                   note=body.note)
    if reading_id is None:
        raise Conflict(f"at: meter {meter.serial} already has a reading at {at.isoformat()}")
    after = await get_reading(conn, reading_id)
    await audit(conn, actor, "reading", "create", reading_id, point.estate, None, after)
    return after


async def get_reading(conn: AsyncConnection, reading_id: int) -> dict[str, Any]:
    """One reading."""
    row = (await conn.execute(select(MeterReading).where(MeterReading.id == reading_id))).first()
    if row is None:
        raise NotFound(f"no reading with id {reading_id}")
    return plain(row)


async def list_readings(conn: AsyncConnection, point_id: int, *, since: datetime | None = None,
                        until: datetime | None = None, after: int | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
    """The point's readings taken in [since, until), in the order they were stored."""
    stmt = select(MeterReading).where(MeterReading.meter_point_id == point_id)
    if since is not None:
        stmt = stmt.where(MeterReading.at >= utc(since))
    if until is not None:
        stmt = stmt.where(MeterReading.at < utc(until))
    if after is not None:
        stmt = stmt.where(MeterReading.id > after)
    return [plain(row) for row in (await conn.execute(stmt.order_by(MeterReading.id).limit(limit))).all()]


async def update_reading(conn: AsyncConnection, actor: Principal, reading_id: int,
                         body: ReadingUpdate) -> dict[str, Any]:
    """Mark a reading invalid (left out of consumption) or valid again, or change its note."""
    before = await get_reading(conn, reading_id)
    given = changes(body)
    values: dict[str, Any] = {}
    if "invalid" in given:
        flags = [f for f in before["flags"] if f != INVALID]
        values["flags"] = flags + [INVALID] if given["invalid"] else flags
    if "note" in given:
        values["note"] = given["note"]
    if values:
        await conn.execute(update(MeterReading).where(MeterReading.id == reading_id).values(**values))
    after = await get_reading(conn, reading_id)
    await audit(conn, actor, "reading", "update", reading_id, before["estate"], before, after)
    return after
