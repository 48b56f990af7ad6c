"""Consumption of every unit meter point of an estate for a billing period, loaded in bulk.

Per point this is exactly what central/metering/service.py computes: the same readings window (the tolerance
before the start to the end), the same order, the same replacements and the same pure rule
`consumption_for_period`. With both endpoints read, the point's estimate rule never comes into play, so the
bulk path passes `EstimateRule.none()`; a point that lacks an endpoint and has an estimate rule goes through
`service.consumption` itself, which looks back at earlier periods. Common-area meters (a few) always do.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import String, and_, cast, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from central.metering import service
from central.metering.common import TOLERANCE, Period, quality, spec_of
from central.metering.consumption import EstimateRule, Quality, Reading, consumption_for_period
from central.metering.findings import MissingReading, Status
from central.metering.history import load_replacements
from central.metering.models import Meter, MeterPoint, MeterReading
from central.metering.points import point_row


@dataclass(frozen=True, slots=True)
class Metered:
    """A point's consumption for the period as billing needs it."""

    point_id: int
    status: str
    quantity: Decimal | None
    start: Reading | None
    end: Reading | None
    reasons: tuple[str, ...]
    estimate_to_store: bool = False
    """The end reading is an estimate that is not stored yet: posting the bill stores it (metering trues it up)."""


@dataclass(slots=True)
class UnitUsage:
    """A unit's consumption of one meter kind: the sum over its points, held if any point is."""

    points: list[Metered] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return any(p.status == Status.HELD for p in self.points)

    @property
    def estimated(self) -> bool:
        return any(p.status == Status.ESTIMATED for p in self.points)

    @property
    def quantity(self) -> Decimal:
        return sum((p.quantity for p in self.points if p.quantity is not None), Decimal(0))

    @property
    def reasons(self) -> list[str]:
        return [f"meter point {p.point_id}: {r}" for p in self.points for r in p.reasons]


def _endpoint(found: dict[str, Any] | None) -> Reading | None:
    if found is None:
        return None
    return Reading(found["at"], found["value"], found["serial"], Quality.ESTIMATED if found["estimated"] else
                   Quality.NONE)


def _from_service(point_id: int, result: dict[str, Any]) -> Metered:
    end = _endpoint(result["end"])
    missing_end = any(f["type"] == "missing_reading" and f["boundary"] == "end" for f in result["findings"])
    store = result["status"] == Status.ESTIMATED and missing_end and end is not None and bool(end.quality)
    return Metered(point_id, result["status"], result["quantity"], _endpoint(result["start"]), end,
                   tuple(result["reasons"]), store)


def _decoders(conn: AsyncConnection) -> tuple[Any, Any]:
    """Turn raw times and register values into what SQLAlchemy would give (aware UTC, Decimal to 3 places)."""
    if conn.dialect.name != "sqlite":
        return (lambda at: at.astimezone(timezone.utc)), Decimal
    scale = f"%.{MeterReading.__table__.c.value.type.scale}f"
    return (lambda at: datetime.fromisoformat(at).replace(tzinfo=timezone.utc)), (lambda v: Decimal(scale % v))


def _of_units(units: tuple[int, int] | None) -> Any:
    if units is None:
        return MeterPoint.unit_id.is_not(None)
    return and_(MeterPoint.unit_id >= units[0], MeterPoint.unit_id < units[1])


async def _readings(conn: AsyncConnection, estate: str, kinds: list[str], period: Period,
                    units: tuple[int, int] | None) -> dict[int, list[Reading]]:
    # Raw columns: for 400,000 readings SQLAlchemy's per-value processing costs more than the query.
    stmt = (select(MeterReading.meter_point_id, type_coerce(MeterReading.at, String),
                   type_coerce(MeterReading.value, String), MeterReading.meter_serial,
                   cast(MeterReading.flags, String))
            .select_from(MeterPoint)
            .join(MeterReading, and_(MeterReading.meter_point_id == MeterPoint.id,
                                     MeterReading.at >= period.start - TOLERANCE, MeterReading.at <= period.end))
            .join(Meter, Meter.id == MeterReading.meter_id)
            .where(MeterPoint.estate == estate, _of_units(units), MeterPoint.kind.in_(kinds))
            .order_by(MeterReading.meter_point_id, MeterReading.at, Meter.installed_at, MeterReading.id))
    found: dict[int, list[Reading]] = defaultdict(list)
    none, (when, number) = Quality.NONE, _decoders(conn)
    for point_id, at, value, serial, flags in (await conn.execute(stmt)).all():
        found[point_id].append(Reading(when(at), number(value), serial,
                                       none if flags == "[]" else quality(orjson.loads(flags))))
    return found


async def unit_points(conn: AsyncConnection, estate: str, period: Period, kinds: list[str],
                      units: tuple[int, int] | None = None) -> dict[tuple[int, str], UnitUsage]:
    """Per (unit, meter kind): the consumption of its meter points over the period (units lo <= id < hi)."""
    usage: dict[tuple[int, str], UnitUsage] = {}
    if not kinds:
        return usage
    points = (await conn.execute(select(
        MeterPoint.id, MeterPoint.unit_id, MeterPoint.kind, MeterPoint.register_limit, MeterPoint.resolution,
        MeterPoint.max_per_day, MeterPoint.estimate_periods).where(
        MeterPoint.estate == estate, _of_units(units), MeterPoint.kind.in_(kinds))
        .order_by(MeterPoint.id))).all()
    readings = await _readings(conn, estate, kinds, period, units)
    replaced = set((await conn.scalars(select(Meter.meter_point_id).where(
        Meter.estate == estate, Meter.removed_at.is_not(None)).distinct())).all())
    none, specs = EstimateRule.none(), {}
    for point in points:
        swaps = await load_replacements(conn, point.id) if point.id in replaced else []
        rules = (point.kind, point.register_limit, point.resolution, point.max_per_day)
        spec = specs.get(rules) or specs.setdefault(rules, spec_of(point))
        result = consumption_for_period(readings.get(point.id, []), period.start, period.end, spec,
                                        estimate=none, replacements=swaps, tolerance=TOLERANCE)
        missing = any(isinstance(f, MissingReading) for f in result.findings)
        if missing and point.estimate_periods:
            row = await point_row(conn, point.id)
            metered = _from_service(point.id, await service.consumption(conn, row, period))
        else:
            metered = Metered(point.id, str(result.status), result.quantity, result.start, result.end,
                              result.reasons)
        usage.setdefault((point.unit_id, point.kind), UnitUsage()).points.append(metered)
    return usage


async def common_points(conn: AsyncConnection, estate: str, period: Period,
                        point_ids: list[int]) -> tuple[list[Metered], list[str]]:
    """Consumption of the common-area meters named by a shared-allocation rule, and what is wrong with the list."""
    rows = {row.id: row for row in (await conn.execute(select(MeterPoint).where(
        MeterPoint.id.in_(point_ids)))).all()}
    problems, found = [], []
    for point_id in point_ids:
        row = rows.get(point_id)
        if row is None or row.estate != estate or row.common_area_id is None:
            problems.append(f"meter point {point_id} is not a common-area meter of estate {estate!r}")
            continue
        found.append(_from_service(point_id, await service.consumption(conn, row, period)))
    return found, problems

