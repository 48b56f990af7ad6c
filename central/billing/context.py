"""Everything a bill run prices from, loaded in a few bulk queries: units, fee items with the rule version in
force, assignments, parking spaces, metered usage, the year's usage billed so far, common meters' totals."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from central.billing import metered, params
from central.billing.items import get_policy
from central.billing.models import BillLine, FeeAssignment, FeeItem, FeeRule, Posting
from central.billing.pricing import RuleRef
from central.metering.common import Period, estate_zone, month_period
from central.registry.common import month_bounds, require_estate
from central.registry.models import Building, ParkingSpace, Unit

RUN_KINDS = ("area", "usage_tiered", "parking_monthly", "fixed", "shared_allocation")
"""Kinds a monthly run bills; temporary parking is charged per stay at the desk."""


@dataclass(frozen=True, slots=True)
class UnitRow:
    id: int
    label: str
    built: Decimal | None
    usable: Decimal | None

    def area(self, which: str) -> Decimal | None:
        """The built or usable area."""
        return self.built if which == "built" else self.usable


@dataclass(frozen=True, slots=True)
class ActiveItem:
    """A fee item with the rule version in force for the period."""

    id: int
    code: str
    name: str
    kind: str
    meter_kind: str | None
    scope: str
    rule_id: int
    version: str
    params: Any
    ref: RuleRef


@dataclass(slots=True)
class Common:
    """A shared-allocation item's common meters: their total, or why it cannot be shared this period."""

    quantity: Decimal = Decimal(0)
    points: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Context:
    estate: str
    period: str
    window: Period
    first_day: date
    last_day: date
    due_date: date
    units: list[UnitRow]
    items: list[ActiveItem]
    without_rule: list[str]
    assigned: dict[int, dict[int, int | None]]
    spaces: dict[int, list[tuple[str, str]]]
    usage: dict[tuple[int, str], metered.UnitUsage]
    usage_before: dict[tuple[int, int], Decimal]
    common: dict[int, Common]


def month_end(year: int, month: int) -> date:
    """The last day of a month."""
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def due_date(period: str, due_months: int) -> date:
    """The last day of the due_months-th month after the period."""
    year, month = month_bounds(period, "period")
    index = year * 12 + month - 1 + due_months
    return month_end(index // 12, index % 12 + 1)


async def active_items(conn: AsyncConnection, estate: str, on: date,
                       kinds: tuple[str, ...] = RUN_KINDS) -> tuple[list[ActiveItem], list[str]]:
    """Active items of the kinds with the rule version in force on the day; codes of those without one."""
    items = (await conn.execute(select(FeeItem).where(FeeItem.estate == estate, FeeItem.active.is_(True),
                                                      FeeItem.kind.in_(kinds)).order_by(FeeItem.id))).all()
    rules = (await conn.execute(select(FeeRule).where(FeeRule.estate == estate, FeeRule.effective_from <= on)
                                .order_by(FeeRule.fee_item_id, FeeRule.effective_from))).all()
    latest = {rule.fee_item_id: rule for rule in rules}
    found, missing = [], []
    for item in items:
        rule = latest.get(item.id)
        if rule is None:
            missing.append(item.code)
            continue
        found.append(ActiveItem(item.id, item.code, item.name, item.kind, item.meter_kind, item.scope, rule.id,
                                rule.version, params.parse(item.kind, rule.parameters), RuleRef(item.code,
                                                                                                rule.version)))
    return found, missing


Range = tuple[int, int] | None
"""Unit ids lo <= id < hi: the slice a worker process prices; None for all."""


def _within(column: Any, units: Range) -> Any:
    return true() if units is None else and_(column >= units[0], column < units[1])


async def _units(conn: AsyncConnection, estate: str, units: Range) -> list[UnitRow]:
    stmt = (select(Unit.id, Building.code, Unit.number, Unit.built_area, Unit.usable_area)
            .join(Building, Building.id == Unit.building_id).where(Unit.estate == estate, _within(Unit.id, units))
            .order_by(Unit.id))
    return [UnitRow(uid, f"{building}-{number}", built, usable)
            for uid, building, number, built, usable in (await conn.execute(stmt)).all()]


async def _assigned(conn: AsyncConnection, estate: str, units: Range) -> dict[int, dict[int, int | None]]:
    stmt = select(FeeAssignment.fee_item_id, FeeAssignment.unit_id, FeeAssignment.household_size).where(
        FeeAssignment.estate == estate, _within(FeeAssignment.unit_id, units))
    found: dict[int, dict[int, int | None]] = defaultdict(dict)
    for item_id, unit_id, size in (await conn.execute(stmt)).all():
        found[item_id][unit_id] = size
    return found


async def _spaces(conn: AsyncConnection, estate: str, units: Range) -> dict[int, list[tuple[str, str]]]:
    stmt = (select(ParkingSpace.unit_id, ParkingSpace.code, ParkingSpace.kind)
            .where(ParkingSpace.estate == estate, ParkingSpace.unit_id.is_not(None),
                   _within(ParkingSpace.unit_id, units)).order_by(ParkingSpace.code))
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for unit_id, code, kind in (await conn.execute(stmt)).all():
        found[unit_id].append((code, kind))
    return found


async def _usage_before(conn: AsyncConnection, estate: str, period: str, item_ids: list[int],
                        units: Range) -> dict[tuple[int, int], Decimal]:
    """Quantity billed this calendar year in other periods, per (unit, item); reversed lines do not count."""
    if not item_ids:
        return {}
    year = period[:4]
    charge, reversal = aliased(Posting), aliased(Posting)
    stmt = (select(BillLine.unit_id, BillLine.fee_item_id, func.sum(BillLine.quantity))
            .join(charge, and_(charge.bill_line_id == BillLine.id, charge.kind == "charge"))
            .outerjoin(reversal, reversal.reverses_id == charge.id)
            .where(BillLine.estate == estate, BillLine.origin == "run", BillLine.period >= f"{year}-01",
                   BillLine.period <= f"{year}-12", BillLine.period != period, BillLine.fee_item_id.in_(item_ids),
                   reversal.id.is_(None), _within(BillLine.unit_id, units))
            .group_by(BillLine.unit_id, BillLine.fee_item_id))
    return {(unit_id, item_id): Decimal(total) for unit_id, item_id, total in (await conn.execute(stmt)).all()}


async def _common(conn: AsyncConnection, estate: str, window: Period, items: list[ActiveItem]) -> dict[int, Common]:
    found = {}
    for item in items:
        if item.kind != "shared_allocation":
            continue
        points, problems = await metered.common_points(conn, estate, window, item.params.meter_point_ids)
        common = Common(problems=problems)
        for point in points:
            if point.quantity is None:
                common.problems += [f"meter point {point.point_id}: {r}" for r in point.reasons]
                continue
            common.quantity += point.quantity
            common.points.append({"id": point.point_id, "status": point.status, "quantity": str(point.quantity)})
        found[item.id] = common
    return found


async def load(conn: AsyncConnection, estate: str, period: str, progress: Any = None, *, units: Range = None,
               usage: bool = True) -> Context:
    """Load what the run prices (only `units` when given; without metered usage when `usage` is false, for a
    run that meters in worker processes); `progress(stage, done, total)` hears of each step."""
    await require_estate(conn, estate)
    year, month = month_bounds(period, "period")
    window = month_period(period, await estate_zone(conn, estate))
    first, last = date(year, month, 1), month_end(year, month)
    policy = await get_policy(conn, estate)
    steps = 6
    tick = progress or (lambda *_: None)
    items, without_rule = await active_items(conn, estate, first)
    unit_rows = await _units(conn, estate, units)
    tick("load", 1, steps)
    assigned = await _assigned(conn, estate, units)
    spaces = await _spaces(conn, estate, units) if any(i.kind == "parking_monthly" for i in items) else {}
    tick("load", 2, steps)
    common = await _common(conn, estate, window, items) if units is None else {}
    tick("load", 3, steps)
    context = Context(estate, period, window, first, last, due_date(period, policy["due_months"]), unit_rows, items,
                      without_rule, assigned, spaces, {}, {}, common)
    if usage:
        await add_usage(conn, context, progress, units)
    return context


async def add_usage(conn: AsyncConnection, context: Context, progress: Any = None, units: Range = None) -> None:
    """Meter the context's units for the period, and sum what their tiered items billed this year."""
    tick = progress or (lambda *_: None)
    kinds = sorted({i.meter_kind for i in context.items if i.kind == "usage_tiered" and i.meter_kind})
    context.usage = await metered.unit_points(conn, context.estate, context.window, kinds, units)
    tick("load", 5, 6)
    tiered = [i.id for i in context.items if i.kind == "usage_tiered"]
    context.usage_before = await _usage_before(conn, context.estate, context.period, tiered, units)
    tick("load", 6, 6)
