"""Water leak detection: flow that never stops through the small hours, night after night.

A night matches when the usable readings inside its window (night_start to night_end; a window whose start is
later than its end runs past midnight and is named by the date it starts) cover the window with no gap longer
than `max_gap` (also from the window's start to the first reading and from the last reading to its end), all
come from one meter, and every interval between consecutive readings shows at least `min_flow_per_hour` x its
hours. A night without that evidence does not match: an alert needs proof of continuous flow on each of the
last `nights` nights, the latest being the last night whose window ended by the last reading. A register rollover
inside a window makes that night not match (rare, and a missed night only delays the alert).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from central.metering.consumption import MeteringError, Quality, Reading, as_decimal, check_order, days_between


@dataclass(frozen=True, slots=True)
class LeakCheck:
    """The nights examined (oldest first), those showing continuous flow, and whether to raise an alert."""

    nights_checked: tuple[date, ...]
    nights_matched: tuple[date, ...]
    alert: bool


def detect_leak(readings: Sequence[Reading], *, min_flow_per_hour: Decimal, nights: int,
                night_start: time = time(1, 0), night_end: time = time(5, 0),
                max_gap: timedelta = timedelta(hours=1)) -> LeakCheck:
    """Whether each of the last `nights` nights shows flow of at least `min_flow_per_hour` throughout."""
    min_flow = as_decimal(min_flow_per_hour, "min_flow_per_hour")
    if min_flow <= 0:
        raise MeteringError(f"min_flow_per_hour must be positive, got {min_flow}: zero flow is what a night without "
                            "a leak shows")
    if isinstance(nights, bool) or not isinstance(nights, int) or nights < 1:
        raise MeteringError(f"nights must be a whole number of at least 1, got {nights!r}")
    if night_start == night_end or max_gap <= timedelta(0):
        raise MeteringError("the night window needs distinct start and end times, and max_gap must be positive")
    # Order and spans are taken in UTC: within one zone Python subtracts wall clocks, so a DST change would
    # make 30 minutes look like 90 (spring) or put readings out of order (autumn).
    instants = [replace(r, at=_instant(r.at)) for r in readings]
    check_order(instants)
    usable = [r for r in instants if Quality.INVALID not in r.quality]
    if not usable:
        return LeakCheck((), (), False)
    zone = next(r.at.tzinfo for r in reversed(readings) if Quality.INVALID not in r.quality)
    last = usable[-1].at

    def window(night: date) -> tuple[datetime, datetime]:
        ends_on = night if night_start < night_end else night + timedelta(days=1)
        return (_instant(datetime.combine(night, night_start, zone)),
                _instant(datetime.combine(ends_on, night_end, zone)))

    latest = last.astimezone(zone).date() if zone is not None else last.date()
    while window(latest)[1] > last:
        latest -= timedelta(days=1)
    checked = tuple(latest - timedelta(days=back) for back in range(nights - 1, -1, -1))
    matched = tuple(night for night in checked if _continuous(usable, *window(night), min_flow, max_gap))
    return LeakCheck(checked, matched, len(matched) == nights)


def _instant(at: datetime) -> datetime:
    """An aware time in UTC; a naive one as it is (its nights are its own wall clock)."""
    return at if at.tzinfo is None else at.astimezone(timezone.utc)


def _continuous(usable: Sequence[Reading], begin: datetime, end: datetime, min_flow: Decimal,
                max_gap: timedelta) -> bool:
    inside = [r for r in usable if begin <= r.at <= end]
    if len(inside) < 2 or inside[0].at - begin > max_gap or end - inside[-1].at > max_gap:
        return False
    for before, after in zip(inside, inside[1:]):
        if after.serial != before.serial or after.at - before.at > max_gap:
            return False
        if after.value - before.value < min_flow * days_between(before.at, after.at) * 24:
            return False
    return True
