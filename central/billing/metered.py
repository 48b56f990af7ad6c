"""Consumption of every unit meter point of an estate for a billing period, loaded in bulk.

Per point this is exactly what central/metering/service.py computes: the same readings window (the tolerance
before the start to the end), the same order, the same replacements and the same pure rule
`consumption_for_period`. With both endpoints read, the point's estimate rule never comes into play, so the
bulk path passes `EstimateRule.none()`; a point that lacks an endpoint and has an estimate rule goes through
`service.consumption` itself, which looks back at earlier periods. Common-area meters (a few) always do.

Almost every point of a month is plain: one meter, no flags, readings that never go down and stay within the
register, a plausible total. `_plain` settles those from the raw rows without the general rule, with the result
the rule gives (status ok, quantity the sum of the steps, the two endpoint readings, no findings); anything else
(a flag, a second serial, a drop, a missing endpoint, a spike, a replaced meter) goes through
`consumption_for_period` as before. One query reads the window's readings for all the points, in the order of
the readings index (point, time, id): a point whose meter was never replaced has one meter, so that is the
metering order; the few replaced points load theirs through `history.load_readings`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from types import SimpleNamespace
from typing import Any, NamedTuple

import orjson
from sqlalchemy import String, and_, cast, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from central.metering import service
from central.metering.common import TOLERANCE, Period, quality, spec_of
from central.metering.consumption import EstimateRule, MeterSpec, Quality, Reading, consumption_for_period, days_between
from central.metering.findings import MissingReading, Status
from central.metering.history import load_readings, load_replacements
from central.metering.models import Meter, MeterPoint, MeterReading
from central.metering.points import point_row

OK, HELD, ESTIMATED = str(Status.OK), str(Status.HELD), str(Status.ESTIMATED)
ONE = Decimal(1)


class Metered(NamedTuple):
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
        for point in self.points:
            if point.status == HELD:
                return True
        return False

    @property
    def estimated(self) -> bool:
        for point in self.points:
            if point.status == ESTIMATED:
                return True
        return False

    @property
    def quantity(self) -> Decimal:
        total = Decimal(0)
        for point in self.points:
            if point.quantity is not None:
                total += point.quantity
        return total

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


_new, _NONE = object.__new__, Quality.NONE
_set_at, _set_value = Reading.at.__set__, Reading.value.__set__  # type: ignore[attr-defined]
_set_serial, _set_quality = Reading.serial.__set__, Reading.quality.__set__  # type: ignore[attr-defined]


def _plain_reading(at: datetime, value: Decimal, serial: str) -> Reading:
    """Reading(at, value, serial) for a value the decoder made (a finite Decimal), without re-checking it: a
    month builds 400,000 of them."""
    reading = _new(Reading)
    _set_at(reading, at)
    _set_value(reading, value)
    _set_serial(reading, serial)
    _set_quality(reading, _NONE)
    return reading


class _Decoder:
    """Raw times and register values as SQLAlchemy would give them (aware UTC, Decimal to 3 places); a month's
    readings share a few instants, so times are decoded once each."""

    def __init__(self, sqlite: bool) -> None:
        self.times: dict[Any, datetime] = {}
        if sqlite:
            scale = f"%.{MeterReading.__table__.c.value.type.scale}f"
            self.parse = lambda at: datetime.fromisoformat(at).replace(tzinfo=UTC)
            self.number = lambda v: Decimal(scale % v)
        else:
            self.parse = lambda at: at.astimezone(UTC)
            self.number = Decimal

    def time(self, raw: Any) -> datetime:
        found = self.times.get(raw)
        if found is None:
            found = self.times[raw] = self.parse(raw)
        return found


class _Bounds(NamedTuple):
    start_from: datetime
    start: datetime
    end_from: datetime
    end: datetime


class _Rules(NamedTuple):
    """A meter spec, and the plausible maximum it allows between two instants (cached: points share both)."""

    spec: MeterSpec
    limits: dict[tuple[datetime, datetime], Decimal]

    def limit(self, first: datetime, last: datetime) -> Decimal:
        found = self.limits.get((first, last))
        if found is None:
            found = self.limits[(first, last)] = self.spec.max_per_day * max(days_between(first, last), ONE)
        return found


def _last_within(times: list[datetime], low: datetime, high: datetime) -> int | None:
    found = None
    for index, at in enumerate(times):
        if low <= at <= high:
            found = index
        elif at > high:
            break
    return found


def _plain(point_id: int, rows: list[tuple], bounds: _Bounds, rules: _Rules, decode: _Decoder) -> Metered | None:
    """The point's result when its period is plain (see the module's docstring), else None."""
    if len(rows) == 2:  # the usual month: a reading at each end
        (at, value, serial, flags), (end_at, end_value, end_serial, end_flags) = rows
        if flags != "[]" or end_flags != "[]" or serial != end_serial:
            return None
        first, last = decode.time(at), decode.time(end_at)
        if not (bounds.start_from <= first <= bounds.start < last and bounds.end_from <= last <= bounds.end):
            return _plain_walk(point_id, rows, bounds, rules, decode)
        start, end = decode.number(value), decode.number(end_value)
        if not 0 <= start <= end <= rules.spec.rollover_limit:
            return None
        total = Decimal(0)
        total += end - start
        if total > rules.limit(first, last):
            return None
        return Metered(point_id, OK, total, _plain_reading(first, start, serial), _plain_reading(last, end, serial),
                       ())
    return _plain_walk(point_id, rows, bounds, rules, decode)


def _plain_walk(point_id: int, rows: list[tuple], bounds: _Bounds, rules: _Rules,
                decode: _Decoder) -> Metered | None:
    serial = rows[0][2]
    for row in rows:
        if row[3] != "[]" or row[2] != serial:
            return None
    times = [decode.time(row[0]) for row in rows]
    for before, after in pairwise(times):
        if after <= before:  # two readings at one instant: the rule refuses or explains them
            return None
    first = _last_within(times, bounds.start_from, bounds.start)
    last = _last_within(times, bounds.end_from, bounds.end)
    if first is None or last is None or last < first:
        return None
    number, top = decode.number, rules.spec.rollover_limit
    previous = start = number(rows[first][1])
    if not 0 <= start <= top:
        return None
    total = Decimal(0)
    for row in rows[first + 1:last + 1]:
        current = number(row[1])
        if current < previous or current > top:
            return None
        total += current - previous
        previous = current
    if total > rules.limit(times[first], times[last]):
        return None
    return Metered(point_id, OK, total, _plain_reading(times[first], start, serial),
                   _plain_reading(times[last], previous, serial), ())


def _of_units(units: tuple[int, int] | None) -> Any:
    if units is None:
        return MeterPoint.unit_id.is_not(None)
    return and_(MeterPoint.unit_id >= units[0], MeterPoint.unit_id < units[1])


async def _raw_readings(conn: AsyncConnection, estate: str, kinds: list[str], period: Period,
                        units: tuple[int, int] | None) -> dict[int, list[tuple]]:
    """(time, value, serial, flags) of the window's readings per point, undecoded, in index order."""
    # Raw columns: for 400,000 readings SQLAlchemy's per-value processing costs more than the query.
    points = select(MeterPoint.id).where(MeterPoint.estate == estate, _of_units(units), MeterPoint.kind.in_(kinds))
    stmt = (select(MeterReading.meter_point_id, type_coerce(MeterReading.at, String),
                   type_coerce(MeterReading.value, String), MeterReading.meter_serial,
                   cast(MeterReading.flags, String))
            .where(MeterReading.meter_point_id.in_(points), MeterReading.at >= period.start - TOLERANCE,
                   MeterReading.at <= period.end)
            .order_by(MeterReading.meter_point_id, MeterReading.at, MeterReading.id))
    found: dict[int, list[tuple]] = {}
    for point_id, at, value, serial, flags in (await conn.execute(stmt)).all():  # all(): one fetch
        rows = found.get(point_id)
        if rows is None:
            found[point_id] = [(at, value, serial, flags)]
        else:
            rows.append((at, value, serial, flags))
    return found


def _readings(rows: list[tuple], decode: _Decoder) -> list[Reading]:
    return [Reading(decode.time(at), decode.number(value), serial,
                    Quality.NONE if flags == "[]" else quality(orjson.loads(flags)))
            for at, value, serial, flags in rows]


async def unit_points(conn: AsyncConnection, estate: str, period: Period, kinds: list[str],
                      units: tuple[int, int] | None = None) -> dict[tuple[int, str], UnitUsage]:
    """Per (unit, meter kind): the consumption of its meter points over the period (units lo <= id < hi)."""
    usage: dict[tuple[int, str], UnitUsage] = {}
    if not kinds:
        return usage
    # Raw numbers as the rules' keys: a Decimal is slow to hash, and 200,000 points share a few specs.
    points = (await conn.execute(select(
        MeterPoint.id, MeterPoint.unit_id, MeterPoint.kind, type_coerce(MeterPoint.register_limit, String),
        type_coerce(MeterPoint.resolution, String), type_coerce(MeterPoint.max_per_day, String),
        MeterPoint.estimate_periods).where(MeterPoint.estate == estate, _of_units(units), MeterPoint.kind.in_(kinds))
        .order_by(MeterPoint.id))).all()
    raw = await _raw_readings(conn, estate, kinds, period, units)
    replaced = set((await conn.scalars(select(Meter.meter_point_id).where(
        Meter.estate == estate, Meter.removed_at.is_not(None)).distinct())).all())
    none, specs, decode = EstimateRule.none(), {}, _Decoder(conn.dialect.name == "sqlite")
    bounds = _Bounds(period.start - TOLERANCE, period.start, period.end - TOLERANCE, period.end)
    for point_id, unit_id, kind, *numbers, estimate_periods in points:
        key = (kind, *numbers)
        rules = specs.get(key)
        if rules is None:
            rules = specs[key] = _Rules(spec_of(_spec_row(conn, kind, numbers)), {})
        rows = raw.get(point_id)
        metered = None
        if rows and point_id not in replaced:
            metered = _plain(point_id, rows, bounds, rules, decode)
        if metered is None:
            metered = await _general(conn, point_id, estimate_periods, period, rules.spec,
                                     rows or [], point_id in replaced, decode, none)
        found = usage.get((unit_id, kind))
        if found is None:
            usage[(unit_id, kind)] = UnitUsage([metered])
        else:
            found.points.append(metered)
    return usage


def _spec_row(conn: AsyncConnection, kind: str, numbers: list[Any]) -> Any:
    """What spec_of needs of a point, from the raw register limit, resolution and maximum per day."""
    if conn.dialect.name == "sqlite":  # as SQLAlchemy's Numeric gives them: to the column's scale
        table = MeterPoint.__table__
        scales = [table.c[name].type.scale for name in ("register_limit", "resolution", "max_per_day")]
        numbers = [Decimal(f"%.{scale}f" % value) for scale, value in zip(scales, numbers)]
    else:
        numbers = [Decimal(value) for value in numbers]
    return SimpleNamespace(kind=kind, register_limit=numbers[0], resolution=numbers[1], max_per_day=numbers[2])


async def _general(conn: AsyncConnection, point_id: int, estimate_periods: int, period: Period, spec: MeterSpec,
                   rows: list[tuple], replaced: bool, decode: _Decoder, none: EstimateRule) -> Metered:
    """A point that is not plain, by the general rule (and by service.consumption when it may be estimated)."""
    if replaced:
        swaps = await load_replacements(conn, point_id)
        readings = await load_readings(conn, point_id, period.start - TOLERANCE, period.end)
    else:
        swaps, readings = [], _readings(rows, decode)
    result = consumption_for_period(readings, period.start, period.end, spec, estimate=none, replacements=swaps,
                                    tolerance=TOLERANCE)
    missing = any(isinstance(f, MissingReading) for f in result.findings)
    if missing and estimate_periods:
        row = await point_row(conn, point_id)
        return _from_service(point_id, await service.consumption(conn, row, period))
    return Metered(point_id, str(result.status), result.quantity, result.start, result.end, result.reasons)


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
