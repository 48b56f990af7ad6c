"""What a bill run would bill: every unit priced by every item that applies to it, by the pure rules in pricing.py.

A line with a zero amount is left out (the ledger holds no zero postings). What cannot be priced is held, with
the reason: consumption metering holds, a unit without the area its rule needs, an item without a rule version
in force, a common meter that cannot be read. Held lines are omitted, never guessed; re-running the period
once the cause is fixed bills them (the run skips what it billed before).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from central.billing import params
from central.billing.context import ActiveItem, Context, UnitRow
from central.billing.pricing import BillLine, TierTable, allocate, area_fee, bill_line, price_tiered, to_cents
from central.metering.consumption import Reading

ZERO_USAGE = Decimal(0)

Progress = Callable[[str, int, int], None]


class Priced(NamedTuple):
    """A priced line of a unit for an item, numbered within (unit, item)."""

    unit_id: int
    item_id: int
    line_no: int
    line: BillLine
    rule_id: int
    source: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Held:
    """Something the run could not price, and why."""

    unit_id: int | None
    unit: str | None
    item: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return {"unit_id": self.unit_id, "unit": self.unit, "fee_item": self.item, "reason": self.reason}


@dataclass(slots=True)
class Plan:
    """The priced lines by unit, what was held, and the estimates posting must store."""

    context: Context
    lines: dict[int, list[Priced]] = field(default_factory=dict)
    held: list[Held] = field(default_factory=list)
    estimates: list[int] = field(default_factory=list)
    """Meter points whose estimated end reading posting must store."""


@dataclass(frozen=True, slots=True)
class Split:
    """A shared item's common total split by weight: unit id -> (weight, cents), summing exactly to the total."""

    total: Decimal
    whole: Decimal
    rate: Decimal
    parts: dict[int, tuple[Decimal, Decimal]]


def _split(context: Context, item: ActiveItem, held: list[Held]) -> Split | None:
    common = context.common[item.id]
    if common.problems:
        held.append(Held(None, None, item.code, "; ".join(common.problems)))
        return None
    rule: params.SharedParams = item.params
    total = to_cents(common.quantity * rule.unit_price)
    weights, unknown = {}, []
    for unit in _units_in_scope(context, item):
        weight = Decimal(1) if rule.basis == "units" else unit.area(rule.area)
        if weight is None:
            unknown.append(Held(unit.id, unit.label, item.code, f"no {rule.area} area to share {item.code} by: "
                                "record it and run the period again"))
        elif weight > 0:
            weights[unit.id] = weight
    if unknown:  # the others' shares depend on the missing areas: sharing without them would overcharge them
        held += unknown
        held.append(Held(None, None, item.code, f"{len(unknown)} unit(s) in scope have no {rule.area} area: "
                         f"{item.code} is not shared this period until they do"))
        return None
    if not weights:
        held.append(Held(None, None, item.code, "no unit in scope has a positive weight to share by"))
        return None
    parts = allocate(total, weights)
    whole = sum(weights.values(), Decimal(0))
    return Split(total, whole, (total / whole).quantize(Decimal("0.000001")),
                 {unit_id: (weights[unit_id], parts[unit_id]) for unit_id in weights})


def _units_in_scope(context: Context, item: ActiveItem) -> list[UnitRow]:
    return [unit for unit in context.units if _in_scope(context, item, unit.id)]


def _area(item: ActiveItem, unit: UnitRow, context: Context, cache: dict) -> tuple[tuple[BillLine, ...], Any]:
    rule: params.AreaParams = item.params
    area = unit.area(rule.area)
    if area is None:
        return (), f"no {rule.area} area recorded for the unit"
    key = ("area", item.id, area)
    if key not in cache:  # the rules are pure: units of one floor plan share their lines
        cache[key] = (area_fee(area, rule.rate, context.first_day, context.last_day, item.ref),
                      {"area": str(area), "basis": rule.area})
    return cache[key]


def _usage(item: ActiveItem, unit: UnitRow, context: Context, cache: dict) -> tuple[tuple[BillLine, ...], Any]:
    usage = context.usage.get((unit.id, item.meter_kind or ""))
    if usage is None:
        return (), None
    if usage.held:
        return (), "; ".join(usage.reasons) or "metering holds the period"
    members = context.assigned.get(item.id, {}).get(unit.id)
    key = (item.id, members)
    if key not in cache:  # one table per item and household size, its boundaries moved once, not per unit
        rule: params.TieredParams = item.params
        table, adjustment = params.tier_table(rule, item.ref), params.adjustment(rule, members)
        cache[key] = TierTable(table.rule, table.unit, adjustment.apply(table)) if adjustment else table
    before, quantity = context.usage_before.get((unit.id, item.id), ZERO_USAGE), usage.quantity
    priced = ("tiered", key, before, quantity)
    lines = cache.get(priced)
    if lines is None:  # units share their quantities: 100,000 units have a few thousand
        lines = cache[priced] = price_tiered(before, quantity, cache[key])
    source = {"usage_before": str(before), "household_size": members, "estimated": usage.estimated,
              "meter_points": [{"id": p.point_id, "status": p.status, "quantity": str(p.quantity),
                                "start": _reading(p.start, cache), "end": _reading(p.end, cache)}
                               for p in usage.points]}
    return lines, source


def _reading(reading: Reading | None, cache: dict) -> list[Any] | None:
    """[time, register value, meter serial] of an endpoint reading."""
    if reading is None:
        return None
    at = cache.get(reading.at)
    if at is None:  # meters are mostly read at the same instants
        at = cache[reading.at] = reading.at.isoformat()
    return [at, str(reading.value), reading.serial]


def _parking(item: ActiveItem, unit: UnitRow, context: Context, cache: dict) -> tuple[tuple[BillLine, ...], Any]:
    rule: params.ParkingMonthlyParams = item.params
    codes = [code for code, kind in context.spaces.get(unit.id, ()) if kind in rule.space_kinds]
    if not codes:
        return (), None
    key = ("parking", item.id, len(codes))
    if key not in cache:  # bill_line's figures for this many spaces; the label names the unit's spaces
        cache[key] = bill_line("", Decimal(len(codes)), "space", rule.monthly_fee, item.ref)
    line = cache[key]
    label = f"parking {', '.join(codes)}"[:160]
    return (BillLine(label, line.quantity, line.unit, line.unit_price, line.amount, line.rule),), {"spaces": codes}


def _fixed(item: ActiveItem, unit: UnitRow, context: Context, cache: dict) -> tuple[tuple[BillLine, ...], Any]:
    rule: params.FixedParams = item.params
    key = ("fixed", item.id)
    if key not in cache:
        cache[key] = ((bill_line(item.name[:160], Decimal(1), rule.label, rule.amount, item.ref),), None)
    return cache[key]


PRICERS = {"area": _area, "usage_tiered": _usage, "parking_monthly": _parking, "fixed": _fixed}


def estate_plan(context: Context) -> tuple[list[Held], dict[int, Split | None]]:
    """What the estate as a whole decides before any unit: items without a rule version, and the 公摊 shares."""
    held = [Held(None, None, code, f"no rule version in force on {context.first_day}")
            for code in context.without_rule]
    splits = {item.id: _split(context, item, held) for item in context.items if item.kind == "shared_allocation"}
    return held, splits


def _in_scope(context: Context, item: ActiveItem, unit_id: int) -> bool:
    return item.scope == "all" or unit_id in context.assigned.get(item.id, {})


def price(context: Context, progress: Progress | None = None,
          splits: dict[int, Split | None] | None = None) -> Plan:
    """Price the context's units, shared items by the estate's `splits` (estate_plan)."""
    plan = Plan(context)
    total, cache, splits = len(context.units), {}, splits or {}
    if progress:
        progress("price", 0, total)
    items = [(item, None if item.scope == "all" else context.assigned.get(item.id, {}), PRICERS.get(item.kind),
              item.kind == "usage_tiered") for item in context.items]
    held, lines_of = plan.held, plan.lines
    for done, unit in enumerate(context.units, 1):
        priced: list[Priced] = []
        unit_id = unit.id
        for item, assigned, pricer, tiered in items:
            if assigned is not None and unit_id not in assigned:
                continue
            if pricer is None:  # shared_allocation
                lines, source = _shared_line(item, unit, splits.get(item.id), context, cache)
            else:
                lines, source = pricer(item, unit, context, cache)
            if isinstance(source, str):
                held.append(Held(unit_id, unit.label, item.code, source))
                continue
            line_no = 0
            for line in lines:
                if line.amount:  # a zero line is left out
                    line_no += 1
                    priced.append(Priced(unit_id, item.id, line_no, line, item.rule_id, source))
            if tiered and line_no:
                plan.estimates += [p.point_id for p in context.usage[(unit_id, item.meter_kind or "")].points
                                   if p.estimate_to_store]
        if priced:
            lines_of[unit_id] = priced
        if progress and (done % 5000 == 0 or done == total):
            progress("price", done, total)
    return plan


def _shared_line(item: ActiveItem, unit: UnitRow, split: Split | None, context: Context,
                 cache: dict | None = None) -> tuple[tuple[BillLine, ...], Any]:
    share = split.parts.get(unit.id) if split else None
    if split is None or share is None:
        return (), None
    weight, amount = share
    cache = {} if cache is None else cache
    key = ("shared", item.id)
    if key not in cache:  # what every unit's line and source say alike
        rule: params.SharedParams = item.params
        common = context.common[item.id]
        cache[key] = (f"{item.name} (shared by {rule.basis})"[:160], "unit" if rule.basis == "units" else "m²",
                      str(common.quantity), str(split.total), str(split.whole), common.points)
    label, unit_name, quantity, total, whole, points = cache[key]
    line = BillLine(label, weight, unit_name, split.rate, amount, item.ref)
    return (line,), {"common_quantity": quantity, "common_total": total, "weight": str(weight),
                     "total_weight": whole, "meter_points": points}
