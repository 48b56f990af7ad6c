"""Consumption of one meter position over a billing period, from cumulative register readings.

Theory of operation
-------------------
Endpoints. The reading used at a period boundary B is the latest usable reading (not flagged INVALID) taken in
[B - tolerance, B], tolerance 24 h by default. Consecutive periods therefore pick the same reading at their
shared boundary: nothing is counted twice or lost.

Steps. From the start reading to the end reading, readings and replacement records are walked in time order and
the quantity of each step is summed:

- current >= previous: current - previous.
- current < previous is a ROLLOVER only when both hold: the previous value lies in the top `rollover_window` of
  the register (previous >= limit x (1 - window), window 0.1 by default), and the wrapped quantity
  limit - previous + current + resolution is plausible for that step (<= max_per_day x the step's days, counting
  at least one day). The resolution is the limit's last digit (99999.99 -> 0.01), the register's step from the
  limit back to 0. Anything else is a NEGATIVE step: the period is held and nothing is billed.
- A replacement ends the old meter at its final reading (a step from the old meter's previous reading) and
  starts the new one at its first reading, so the period is old final - old previous + new current - new first.
  A reading or replacement from a meter other than the active one holds the period (mismatch).
- A value outside 0..limit holds the period.

Plausibility. The total must not exceed max_per_day x the days between the endpoints (at least one day);
otherwise the period is held as an implausible spike.

Missing endpoints. Without a start or end reading the period is held, unless an explicit `EstimateRule` other
than `EstimateRule.none()` is passed: `average_daily_of_previous(n)` takes the last n non-estimated past periods,
divides their total quantity by their total days, and multiplies by the period's days (rounded half-up to the
meter's resolution). Partial readings inside the period are not used. With fewer than n past periods the period
is held. When the start reading exists, the result's `end` is the implied end reading flagged ESTIMATED: store
it, and the next period's actual reading trues the estimate up (that period notes a TrueUp, and is not itself an
estimate). An end reading already flagged ESTIMATED makes the result an estimate.

Status: "held" when any finding holds (quantity is then None), else "estimated" when any finding estimates, else
"ok". Findings are typed (findings.py) and each gives a reason in words.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import Flag, auto

from central.metering.findings import (
    Estimated, EstimatedEndReading, EstimateUnavailable, Finding, IgnoredReading, Implausible, MeterMismatch,
    MeterReplaced, MissingReading, NegativeStep, OutOfRange, Rollover, Status, TrueUp)

_MICROSECONDS_PER_DAY = Decimal(86_400_000_000)


class MeteringError(ValueError):
    """The inputs cannot be metered as given (unsorted, floats, empty period); the message says how to fix them."""


def as_decimal(value: object, name: str) -> Decimal:
    """`value` as a finite Decimal; floats are refused because meter registers are exact decimals."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}: pass Decimal('{value}')")
    result = Decimal(value)
    if not result.is_finite():
        raise MeteringError(f"{name} must be a finite number, got {value}")
    return result


def days_between(earlier: datetime, later: datetime) -> Decimal:
    """The span in days as an exact-to-the-microsecond Decimal."""
    return Decimal((later - earlier) // timedelta(microseconds=1)) / _MICROSECONDS_PER_DAY


class Quality(Flag):
    """Flags a reading carries from the meter, the driver or the office."""

    NONE = 0
    MANUAL = auto()
    ESTIMATED = auto()
    INVALID = auto()


@dataclass(frozen=True, slots=True)
class Reading:
    """A cumulative register value of meter `serial` at `at`."""

    at: datetime
    value: Decimal
    serial: str
    quality: Quality = Quality.NONE

    def __post_init__(self) -> None:
        as_decimal(self.value, f"reading of {self.serial} at {self.at}")


@dataclass(frozen=True, slots=True)
class Replacement:
    """Meter `old_serial` removed at `at` showing `old_final`; `new_serial` fitted showing `new_first`."""

    at: datetime
    old_serial: str
    old_final: Decimal
    new_serial: str
    new_first: Decimal

    def __post_init__(self) -> None:
        as_decimal(self.old_final, f"old_final of {self.old_serial}")
        as_decimal(self.new_first, f"new_first of {self.new_serial}")


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """A meter kind: register limit (its last digit is the resolution), plausible maximum per day, rollover window."""

    kind: str
    rollover_limit: Decimal
    max_per_day: Decimal
    rollover_window: Decimal = Decimal("0.1")

    def __post_init__(self) -> None:
        limit = as_decimal(self.rollover_limit, "rollover_limit")
        if limit <= 0 or limit.as_tuple().exponent > 0:
            raise MeteringError(f"{self.kind}: write rollover_limit with its resolution, e.g. Decimal('99999.99')")
        if as_decimal(self.max_per_day, "max_per_day") <= 0:
            raise MeteringError(f"{self.kind}: max_per_day must be positive")
        if not 0 < as_decimal(self.rollover_window, "rollover_window") < 1:
            raise MeteringError(f"{self.kind}: rollover_window is a fraction of the limit, between 0 and 1")

    @property
    def resolution(self) -> Decimal:
        """The register's smallest step, from the limit's last digit."""
        return Decimal(1).scaleb(self.rollover_limit.as_tuple().exponent)


@dataclass(frozen=True, slots=True)
class EstimateRule:
    """How to estimate a period with a missing endpoint; `periods == 0` means never."""

    periods: int = 0

    @classmethod
    def none(cls) -> EstimateRule:
        """Never estimate: a missing endpoint holds the period."""
        return cls(0)

    @classmethod
    def average_daily_of_previous(cls, periods: int) -> EstimateRule:
        """Estimate from the average daily use of the last `periods` actual periods."""
        if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
            raise MeteringError(f"average_daily_of_previous needs at least 1 period, got {periods!r}")
        return cls(periods)


@dataclass(frozen=True, slots=True)
class PastPeriod:
    """A billed period of the same meter position: its length in days and quantity."""

    days: Decimal
    quantity: Decimal
    estimated: bool = False

    def __post_init__(self) -> None:
        if as_decimal(self.days, "past period days") <= 0:
            raise MeteringError(f"a past period must last more than 0 days, got {self.days}")
        as_decimal(self.quantity, "past period quantity")


@dataclass(frozen=True, slots=True)
class Consumption:
    """A period's quantity (None when held), its findings, and the endpoint readings (end may be estimated)."""

    status: Status
    quantity: Decimal | None
    findings: tuple[Finding, ...]
    start: Reading | None
    end: Reading | None

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the period is held, in words; empty unless held."""
        return tuple(finding.reason for finding in self.findings if finding.holds)


def consumption_for_period(readings: Sequence[Reading], period_start: datetime, period_end: datetime,
                           spec: MeterSpec, *, estimate: EstimateRule, replacements: Sequence[Replacement] = (),
                           history: Sequence[PastPeriod] = (), tolerance: timedelta = timedelta(hours=24),
                           ) -> Consumption:
    """Consumption of one meter position from period_start to period_end, from time-ordered readings."""
    if not isinstance(estimate, EstimateRule):
        raise TypeError("estimate must be an EstimateRule: pass EstimateRule.none() to hold periods with a "
                        "missing reading, or EstimateRule.average_daily_of_previous(n)")
    if period_end <= period_start:
        raise MeteringError(f"period_end {period_end} must be after period_start {period_start}")
    check_order(readings)
    findings: list[Finding] = [IgnoredReading(r.at, r.serial) for r in readings if Quality.INVALID in r.quality
                               and period_start - tolerance <= r.at <= period_end]
    usable = [r for r in readings if Quality.INVALID not in r.quality]
    start, end = _endpoint(usable, period_start, tolerance), _endpoint(usable, period_end, tolerance)
    if start is None or end is None:
        return _estimate(start, end, period_start, period_end, spec, estimate, history, replacements, findings)
    if Quality.ESTIMATED in start.quality:
        findings.append(TrueUp(start.at, start.value))
    if Quality.ESTIMATED in end.quality:
        findings.append(EstimatedEndReading(end.at))
    quantity = _walk(start, end, usable, replacements, spec, findings)
    days = days_between(start.at, end.at)
    limit = spec.max_per_day * max(days, Decimal(1))
    if quantity > limit:
        findings.append(Implausible(quantity, limit, days))
    return _result(quantity, findings, start, end)


def check_order(readings: Sequence[Reading]) -> None:
    """Refuse readings out of time order, or two of one meter at the same instant."""
    for before, after in zip(readings, readings[1:]):
        if after.at < before.at:
            raise MeteringError(f"readings must be in time order ({after.at} comes after {before.at}): sort them")
        if after.at == before.at and after.serial == before.serial:
            raise MeteringError(f"two readings of meter {before.serial} at {before.at}: keep one")


def _endpoint(usable: Sequence[Reading], boundary: datetime, tolerance: timedelta) -> Reading | None:
    candidates = [r for r in usable if boundary - tolerance <= r.at <= boundary]
    return candidates[-1] if candidates else None


def _walk(start: Reading, end: Reading, usable: Sequence[Reading], replacements: Sequence[Replacement],
          spec: MeterSpec, findings: list[Finding]) -> Decimal:
    pending = sorted((r for r in replacements if start.at <= r.at <= end.at
                      and not (r.at == start.at and r.new_serial == start.serial)), key=lambda r: r.at)
    total = Decimal(0)
    at, value, serial = start.at, start.value, start.serial
    if not _in_range(at, value, spec, findings):
        return total
    for reading in (r for r in usable if start.at < r.at <= end.at):
        # The old meter's readings at the replacement instant come before it, the new meter's after it.
        while pending and (pending[0].at < reading.at or (pending[0].at == reading.at and reading.serial != serial)):
            swap = pending.pop(0)
            if swap.old_serial != serial:
                findings.append(MeterMismatch(swap.at, serial, swap.old_serial))
                return total
            total += _step(at, value, swap.at, swap.old_final, spec, findings)
            findings.append(MeterReplaced(swap.at, swap.old_serial, swap.old_final, swap.new_serial, swap.new_first))
            at, value, serial = swap.at, swap.new_first, swap.new_serial
            if not _in_range(at, value, spec, findings):
                return total
        if reading.serial != serial:
            findings.append(MeterMismatch(reading.at, serial, reading.serial))
            return total
        total += _step(at, value, reading.at, reading.value, spec, findings)
        at, value = reading.at, reading.value
    return total


def _in_range(at: datetime, value: Decimal, spec: MeterSpec, findings: list[Finding]) -> bool:
    if 0 <= value <= spec.rollover_limit:
        return True
    findings.append(OutOfRange(at, value, spec.rollover_limit))
    return False


def _step(prev_at: datetime, previous: Decimal, at: datetime, current: Decimal, spec: MeterSpec,
          findings: list[Finding]) -> Decimal:
    if not _in_range(at, current, spec, findings):
        return Decimal(0)
    if current >= previous:
        return current - previous
    wrapped = spec.rollover_limit - previous + current + spec.resolution
    plausible = spec.max_per_day * max(days_between(prev_at, at), Decimal(1))
    if previous >= spec.rollover_limit * (1 - spec.rollover_window) and wrapped <= plausible:
        findings.append(Rollover(at, previous, current, wrapped))
        return wrapped
    findings.append(NegativeStep(at, previous, current))
    return Decimal(0)


def _estimate(start: Reading | None, end: Reading | None, period_start: datetime, period_end: datetime,
              spec: MeterSpec, estimate: EstimateRule, history: Sequence[PastPeriod],
              replacements: Sequence[Replacement], findings: list[Finding]) -> Consumption:
    days = days_between(period_start, period_end)
    actual = [p for p in history if not p.estimated][-estimate.periods:] if estimate.periods else []
    quantity = None
    if estimate.periods and len(actual) == estimate.periods:
        daily = sum((p.quantity for p in actual), Decimal(0)) / sum((p.days for p in actual), Decimal(0))
        quantity = (daily * days).quantize(spec.resolution, rounding=ROUND_HALF_UP)
    for boundary, reading, at in (("start", start, period_start), ("end", end, period_end)):
        if reading is None:
            findings.append(MissingReading(boundary, at, quantity is not None))
    if quantity is None:
        if estimate.periods:
            findings.append(EstimateUnavailable(estimate.periods, len(actual)))
        return _result(None, findings, start, end)
    findings.append(Estimated(estimate.periods, daily, days, quantity))
    implied = end
    if start is not None and not any(start.at < r.at <= period_end for r in replacements):
        wrapped = start.value + quantity
        if wrapped > spec.rollover_limit:
            wrapped -= spec.rollover_limit + spec.resolution
        implied = Reading(period_end, wrapped, start.serial, Quality.ESTIMATED)
    return _result(quantity, findings, start, implied)


def _result(quantity: Decimal | None, findings: list[Finding], start: Reading | None,
            end: Reading | None) -> Consumption:
    if quantity is None or any(f.holds for f in findings):
        return Consumption(Status.HELD, None, tuple(findings), start, end)
    status = Status.ESTIMATED if any(f.estimates for f in findings) else Status.OK
    return Consumption(status, quantity, tuple(findings), start, end)
