"""Consumption of a meter point over a period, by the pure rules in consumption.py, and storing an estimate.

The point's `estimate_periods` is the explicit rule: 0 holds a period with a missing reading; n estimates it
from the average daily use of the last n actual periods of the same kind (previous months, or equally long
periods before). Those past periods are themselves metered from the stored readings, without estimates.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.metering.common import ESTIMATED, TOLERANCE, Period, estate_zone, spec_of
from central.metering.consumption import (Consumption, EstimateRule, PastPeriod, Quality, Reading,
                                          consumption_for_period, days_between)
from central.metering.errors import Conflict
from central.metering.findings import Finding, MissingReading, Status
from central.metering.history import load_readings, load_replacements, meter_at
from central.metering.readings import add_reading, get_reading
from central.registry.common import audit

UNITS = {"water": "m³", "gas": "m³", "electricity": "kWh"}


def estimate_rule(point: Any) -> EstimateRule:
    """The point's explicit estimate rule."""
    if point.estimate_periods:
        return EstimateRule.average_daily_of_previous(point.estimate_periods)
    return EstimateRule.none()


def _rule_name(rule: EstimateRule) -> str:
    return f"average_daily_of_previous({rule.periods})" if rule.periods else "none"


async def _compute(conn: AsyncConnection, point: Any, period: Period) -> tuple[EstimateRule, Consumption]:
    rule = estimate_rule(point)
    zone = await estate_zone(conn, point.estate)
    past: list[Period] = []
    for _ in range(2 * rule.periods):  # look further back than n, past periods that were held
        past.insert(0, (past[0] if past else period).before(zone))
    readings = await load_readings(conn, point.id, (past[0] if past else period).start - TOLERANCE, period.end)
    swaps = await load_replacements(conn, point.id)
    spec = spec_of(point)
    history = []
    for earlier in past:
        metered = consumption_for_period(readings, earlier.start, earlier.end, spec, estimate=EstimateRule.none(),
                                         replacements=swaps, tolerance=TOLERANCE)
        if metered.quantity is not None:
            history.append(PastPeriod(days_between(earlier.start, earlier.end), metered.quantity,
                                      metered.status == Status.ESTIMATED))
    return rule, consumption_for_period(readings, period.start, period.end, spec, estimate=rule,
                                        replacements=swaps, history=history, tolerance=TOLERANCE)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def finding_dict(finding: Finding) -> dict[str, Any]:
    """A finding as JSON-ready data: its type, its fields, whether it holds or estimates, and why."""
    fields = {f.name: getattr(finding, f.name) for f in dataclasses.fields(finding)}  # type: ignore[arg-type]
    return {"type": _snake(type(finding).__name__), **fields, "holds": finding.holds,
            "estimates": finding.estimates, "reason": finding.reason}


def _reading(reading: Reading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    return {"at": reading.at, "value": reading.value, "serial": reading.serial,
            "estimated": Quality.ESTIMATED in reading.quality}


async def consumption(conn: AsyncConnection, point: Any, period: Period) -> dict[str, Any]:
    """The point's consumption over the period: status ok, estimated or held, the quantity, and the findings."""
    rule, result = await _compute(conn, point, period)
    return {"meter_point_id": point.id, "kind": point.kind, "unit": UNITS[point.kind], "period": period.as_dict(),
            "status": str(result.status), "quantity": result.quantity, "estimate_rule": _rule_name(rule),
            "start": _reading(result.start), "end": _reading(result.end),
            "findings": [finding_dict(f) for f in result.findings], "reasons": list(result.reasons)}


async def store_estimate(conn: AsyncConnection, actor: Principal, point: Any, period: Period) -> dict[str, Any]:
    """Store the end reading an estimated period implies, marked with its rule; the next actual trues it up."""
    rule, result = await _compute(conn, point, period)
    missing_end = any(isinstance(f, MissingReading) and f.boundary == "end" for f in result.findings)
    end = result.end
    if result.status != Status.ESTIMATED or not missing_end or end is None or end.at != period.end:
        why = "; ".join(result.reasons) or f"the period is {result.status} without an estimated end reading"
        raise Conflict(f"nothing to estimate for {point.name!r}: {why}")
    meter = await meter_at(conn, point.id, end.at)
    if meter is None or meter.serial != end.serial:
        raise Conflict(f"the meter fitted at {end.at.isoformat()} is not {end.serial}: enter a reading instead")
    note = f"estimated by {_rule_name(rule)}: {result.quantity} for {period.month or period.start.isoformat()}"
    reading_id = await add_reading(conn, point, meter, end.at, end.value, source="estimate", flags=[ESTIMATED],
                                   note=note[:256], check=False)
    if reading_id is None:
        raise Conflict(f"meter {meter.serial} already has a reading at {end.at.isoformat()}")
    stored = await get_reading(conn, reading_id)
    await audit(conn, actor, "reading", "estimate", reading_id, point.estate, None, stored)
    return {"reading": stored, "consumption": await consumption(conn, point, period)}
