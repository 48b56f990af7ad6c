"""Pricing rules as pure functions over Decimal: money, annual tiers, area fees, parking and shared-area allocation.

Every priced line carries the `RuleRef` (name, version) of the tariff that priced it. Rules decided here:

- Money: amounts round to the cent with ROUND_HALF_UP (a half cent goes away from zero: 0.005 -> 0.01,
  -0.005 -> -0.01), once per bill line, after multiplying. A bill's total is the sum of its rounded lines.
  Floats are refused everywhere: pass Decimal("3.45").
- Tiers (阶梯价): a tier table is a list of (start, unit price) on the cumulative usage of the calendar year; a
  bill is cut at every boundary it crosses, one line per tier touched. Household adjustments move the boundaries
  by a per-boundary amount for each member beyond the base count.
- Year boundary: the cumulative count restarts on 1 January. If a reading exists at the year end, pass the two
  quantities it gives; otherwise `split_at_new_year` pro-rates by calendar days on each side of 1 January
  (old-year share rounded half-up to the step, the new year gets the rest, so the parts sum exactly).
- Area fee: a calendar month wholly inside the billed days costs area x rate, whatever its length; a partly
  covered month costs area x rate x covered days / days in that month. Each line is rounded on its own.
- Parking: a stay up to the free minutes is free; past it the stay is charged from entry (or, if the tariff says
  so, from the end of the free minutes) per block started. Blocks run on from entry without restarting, each
  belongs to the day it starts in (a 24 h window from entry, or a calendar day, per the tariff), and the daily
  cap limits the blocks of one day. Times are wall-clock times of one zone without DST (China).
- Allocation (公摊): largest remainder in whole cents; ties go to the smallest key; a negative total (a credit)
  is allocated as its positive and negated, so credits mirror charges.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import groupby, pairwise
from typing import TypeVar

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
K = TypeVar("K", bound=Hashable)


class PricingError(ValueError):
    """A pricing input breaks a rule; the message names the value and says what to pass instead."""


def decimal_arg(value: object, name: str) -> Decimal:
    """`value` as a finite Decimal; floats are refused because they cannot hold prices exactly."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}: pass Decimal('{value}')")
    result = Decimal(value)
    if not result.is_finite():
        raise PricingError(f"{name} must be a finite number, got {value}")
    return result


def to_cents(amount: Decimal) -> Decimal:
    """`amount` rounded to the cent, ROUND_HALF_UP (half a cent away from zero)."""
    return decimal_arg(amount, "amount").quantize(CENT, rounding=ROUND_HALF_UP)


def is_cents(amount: Decimal) -> bool:
    """True when `amount` is a whole number of cents."""
    return decimal_arg(amount, "amount") == to_cents(amount)


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded half-up to `step`, a power of ten such as Decimal('0.01')."""
    return decimal_arg(value, "value").quantize(decimal_arg(step, "step"), rounding=ROUND_HALF_UP)


def cents_of(exact: Fraction) -> Decimal:
    """An exact fraction of a yuan rounded half-up to the cent, without any intermediate rounding."""
    hundredths = abs(exact) * 100
    whole = math.floor(hundredths + Fraction(1, 2))
    return Decimal(whole if exact >= 0 else -whole).scaleb(-2)


@dataclass(frozen=True, slots=True)
class RuleRef:
    """The tariff rule and version that priced a line, recorded on the bill."""

    name: str
    version: str

    def __post_init__(self) -> None:
        if not self.name or not self.version:
            raise PricingError("a RuleRef needs a name and a version, e.g. RuleRef('water-tiers', '2024-01')")


@dataclass(frozen=True, slots=True)
class BillLine:
    """One priced line; `amount` is authoritative (quantity may be shown rounded, e.g. part months)."""

    label: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    rule: RuleRef


def bill_line(label: str, quantity: Decimal, unit: str, unit_price: Decimal, rule: RuleRef) -> BillLine:
    """A line whose amount is quantity x unit price rounded to the cent."""
    quantity, unit_price = decimal_arg(quantity, "quantity"), decimal_arg(unit_price, "unit_price")
    return BillLine(label, quantity, unit, unit_price, to_cents(quantity * unit_price), rule)


def lines_total(lines: Iterable[BillLine]) -> Decimal:
    """The sum of the lines' rounded amounts."""
    return sum((line.amount for line in lines), ZERO)


# --- Cumulative annual tiers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier begins at `start` (cumulative usage in the year) and runs to the next tier's start."""

    start: Decimal
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class TierTable:
    """Tiers in order from 0; the last is open-ended. E.g. water: 0 at 3.45, 180 at 4.83, 260 at 5.83."""

    rule: RuleRef
    unit: str
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        _check_tiers(self.tiers, f"tier table {self.rule.name} {self.rule.version}")


def _check_tiers(tiers: Sequence[Tier], where: str) -> None:
    if not tiers or decimal_arg(tiers[0].start, "tier start") != 0:
        raise PricingError(f"{where}: the first tier must start at 0")
    for before, after in pairwise(tiers):
        if decimal_arg(after.start, "tier start") <= before.start:
            raise PricingError(f"{where}: tier starts must increase, got {before.start} then {after.start}")
    for tier in tiers:
        if decimal_arg(tier.unit_price, "tier unit_price") < 0:
            raise PricingError(f"{where}: tier at {tier.start} has a negative price {tier.unit_price}")


@dataclass(frozen=True, slots=True)
class HouseholdAdjustment:
    """Each member beyond `base_members` moves tier boundary i up by `per_extra_member[i]`."""

    members: int
    base_members: int
    per_extra_member: tuple[Decimal, ...]

    def apply(self, table: TierTable) -> tuple[Tier, ...]:
        """The table's tiers with boundaries moved for this household."""
        boundaries = len(table.tiers) - 1
        if len(self.per_extra_member) != boundaries:
            raise PricingError(f"the adjustment gives {len(self.per_extra_member)} boundary increases but "
                               f"{table.rule.name} has {boundaries} boundaries: give one per boundary")
        extra = max(0, self.members - self.base_members)
        moved = [table.tiers[0]] + [
            Tier(tier.start + extra * decimal_arg(step, "per_extra_member"), tier.unit_price)
            for tier, step in zip(table.tiers[1:], self.per_extra_member)]
        _check_tiers(moved, f"{table.rule.name} adjusted for {self.members} members")
        return tuple(moved)


def price_tiered(usage_before: Decimal, usage: Decimal, table: TierTable,
                 adjustment: HouseholdAdjustment | None = None) -> tuple[BillLine, ...]:
    """Lines for `usage` on top of `usage_before` already billed this year, one per tier segment touched."""
    before, usage = decimal_arg(usage_before, "usage_before"), decimal_arg(usage, "usage")
    if before < 0 or usage < 0:
        raise PricingError(f"usage_before {before} and usage {usage} must not be negative: metering holds "
                           "negative consumption; price a correction as its own line")
    tiers = adjustment.apply(table) if adjustment else table.tiers
    lines = []
    for index, tier in enumerate(tiers):
        upper = tiers[index + 1].start if index + 1 < len(tiers) else None
        low = max(before, tier.start)
        high = before + usage if upper is None else min(before + usage, upper)
        if high > low:
            span = f"{tier.start} to {upper}" if upper is not None else f"from {tier.start}"
            lines.append(bill_line(f"tier {index + 1} ({span} {table.unit})", high - low, table.unit,
                                   tier.unit_price, table.rule))
    return tuple(lines)


def split_at_new_year(quantity: Decimal, start: date, end: date,
                      step: Decimal = CENT) -> tuple[Decimal, Decimal]:
    """(old year, new year) parts of a quantity read on `start` and `end`, pro-rated by calendar days."""
    quantity = decimal_arg(quantity, "quantity")
    start = start.date() if isinstance(start, datetime) else start
    end = end.date() if isinstance(end, datetime) else end
    new_year = date(end.year, 1, 1)
    if not start < new_year < end:
        raise PricingError(f"{start} to {end} does not cross 1 January: price it with price_tiered alone")
    if start.year != end.year - 1:
        raise PricingError(f"{start} to {end} crosses more than one 1 January: split the reading period per year")
    old_days, new_days = (new_year - start).days, (end - new_year).days
    old = round_to_step(quantity * old_days / (old_days + new_days), step)
    return old, quantity - old


def price_tiered_across_year(usage_before: Decimal, old_year_usage: Decimal, new_year_usage: Decimal,
                             old_table: TierTable, new_table: TierTable | None = None,
                             adjustment: HouseholdAdjustment | None = None,
                             ) -> tuple[tuple[BillLine, ...], tuple[BillLine, ...]]:
    """(old-year lines, new-year lines): the old part continues the year's count, the new part starts from 0."""
    old = price_tiered(usage_before, old_year_usage, old_table, adjustment)
    return old, price_tiered(Decimal(0), new_year_usage, new_table or old_table, adjustment)


# --- Area fees -----------------------------------------------------------------------------------------------


def area_fee(area: Decimal, monthly_rate: Decimal, first_day: date, last_day: date,
             rule: RuleRef) -> tuple[BillLine, ...]:
    """Fee for area x rate per m² per month over first_day..last_day inclusive; part months by days."""
    area, rate = decimal_arg(area, "area"), decimal_arg(monthly_rate, "monthly_rate")
    if area < 0 or rate < 0:
        raise PricingError(f"area {area} and monthly_rate {rate} must not be negative: bill a credit as its own line")
    if last_day < first_day:
        raise PricingError(f"last_day {last_day} is before first_day {first_day}: both days are included")
    per_month = area * rate
    lines: list[BillLine] = []
    full, day = 0, first_day
    while day <= last_day:
        month_end = _month_end(day)
        through = min(month_end, last_day)
        covered = (through - day).days + 1
        if covered == month_end.day:
            full += 1
        else:
            if full:
                lines.append(_full_months(full, per_month, rule))
                full = 0
            lines.append(BillLine(f"{day} to {through} ({covered}/{month_end.day} days)",
                                  round_to_step(Decimal(covered) / month_end.day, Decimal("0.0001")), "month",
                                  per_month, cents_of(Fraction(per_month) * covered / month_end.day), rule))
        day = through + timedelta(days=1)
    if full:
        lines.append(_full_months(full, per_month, rule))
    return tuple(lines)


def _full_months(count: int, per_month: Decimal, rule: RuleRef) -> BillLine:
    return bill_line(f"{count} full month{'s' if count > 1 else ''}", Decimal(count), "month", per_month, rule)


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


# --- Temporary parking ---------------------------------------------------------------------------------------


class CapWindow(StrEnum):
    """What a "day" is for the daily cap."""

    ROLLING_24H = "rolling_24h"
    CALENDAR_DAY = "calendar_day"


@dataclass(frozen=True, slots=True)
class ParkingTariff:
    """Free minutes, price per block started, optional daily cap and what a day is for it."""

    rule: RuleRef
    free_minutes: int
    block_minutes: int
    block_price: Decimal
    daily_cap: Decimal | None = None
    cap_window: CapWindow = CapWindow.ROLLING_24H
    free_minutes_deducted: bool = False

    def __post_init__(self) -> None:
        if self.free_minutes < 0 or self.block_minutes <= 0:
            raise PricingError(f"{self.rule.name}: free_minutes must be >= 0 and block_minutes > 0")
        if decimal_arg(self.block_price, "block_price") < 0:
            raise PricingError(f"{self.rule.name}: block_price must not be negative")
        if self.daily_cap is not None and decimal_arg(self.daily_cap, "daily_cap") < 0:
            raise PricingError(f"{self.rule.name}: daily_cap must not be negative; use None for no cap")
        object.__setattr__(self, "cap_window", CapWindow(self.cap_window))


def parking_fee(entry: datetime, leaving: datetime, tariff: ParkingTariff) -> tuple[BillLine, ...]:
    """Lines for a stay, one per day that has charged blocks; no lines within the free minutes."""
    if (entry.tzinfo is None) != (leaving.tzinfo is None):
        raise PricingError("entry and leaving must both be naive or both be aware datetimes")
    if leaving < entry:
        raise PricingError(f"leaving {leaving} is before entry {entry}: check the gate clocks")
    free = timedelta(minutes=tariff.free_minutes)
    if leaving - entry <= free:
        return ()
    origin = entry + free if tariff.free_minutes_deducted else entry
    block = timedelta(minutes=tariff.block_minutes)
    whole, rest = divmod(leaving - origin, block)
    starts = (origin + i * block for i in range(whole + (1 if rest else 0)))
    if tariff.cap_window is CapWindow.ROLLING_24H:
        days = groupby(starts, key=lambda at: (at - entry) // timedelta(days=1))
    else:
        days = groupby(starts, key=lambda at: at.date())
    lines = []
    for day, blocks in days:
        count = sum(1 for _ in blocks)
        label = f"day {day + 1} from entry" if isinstance(day, int) else day.isoformat()
        if tariff.daily_cap is not None and count * tariff.block_price > tariff.daily_cap:
            lines.append(bill_line(f"{label}: daily cap", Decimal(1), "day", tariff.daily_cap, tariff.rule))
        else:
            lines.append(bill_line(label, Decimal(count), f"{tariff.block_minutes} min", tariff.block_price,
                                   tariff.rule))
    return tuple(lines)


# --- Shared-area allocation (公摊) ----------------------------------------------------------------------------


def allocate(total: Decimal, weights: Mapping[K, Decimal]) -> dict[K, Decimal]:
    """Split `total` by weight into cents summing exactly to it (largest remainder, ties to the smallest key).

    Each key's exact share is |cents| x weight / whole (whole: the weights' Decimal sum); it gets the share's
    floor, and the cents left over go one each to the largest remainders. In integers: with the weights as
    N_k / L over a common denominator L and the whole as P / Q, share_k = |cents| x N_k x Q / (L x P), so the
    floor and remainder of that division are exact, and the remainders, all over L x P, compare as integers.
    """
    total = decimal_arg(total, "total")
    if not is_cents(total):
        raise PricingError(f"total {total} is not a whole number of cents: round it with to_cents first")
    shares = {key: decimal_arg(weight, f"weight of {key!r}") for key, weight in weights.items()}
    negative = [key for key, weight in shares.items() if weight < 0]
    if negative:
        raise PricingError(f"weights must not be negative, got one for {negative[0]!r}: use area or unit counts")
    whole = sum(shares.values(), Decimal(0))
    if whole == 0:
        raise PricingError("all weights are zero (or there are none): give at least one a positive area or "
                           "unit count to share by")
    cents = int(total.scaleb(2))
    ratios = {key: weight.as_integer_ratio() for key, weight in shares.items()}
    common = math.lcm(*{denominator for _, denominator in ratios.values()})
    numerator, denominator = whole.as_integer_ratio()
    scale, divisor = abs(cents) * denominator, common * numerator
    parts, remainders = {}, {}
    for key, (top, bottom) in ratios.items():
        parts[key], remainders[key] = divmod(scale * top * (common // bottom), divisor)
    leftover = abs(cents) - sum(parts.values())
    by_remainder = sorted(shares, key=lambda key: (-remainders[key], key))
    for key in by_remainder[:leftover]:
        parts[key] += 1
    sign = -1 if cents < 0 else 1
    return {key: Decimal(sign * parts[key]).scaleb(-2) for key in shares}
