"""Which meter a bus polls next, and when: pure, with time passed in (seconds on any monotonic clock).

Theory of operation: meter i of n polls every `period` seconds at phase i/n of its period, so meters that
share a period spread over it instead of all asking at once. A meter's polls stay on that grid: after a
poll its next due time is the first grid point after the poll ended, so a poll that ran late does not
drift the ones after it, and grid points that passed while the bus was busy are skipped (and counted),
not made up in a burst.

A meter whose poll failed leaves the grid: it is retried `retry_s` after the failure, then after twice
that, and so on up to a cap (`backoff_max_s`, or the meter's own period if that is longer); a success puts
it back on its grid with the backoff reset.

Healthy meters come first: when the bus is free, the due healthy meter with the earliest due time is
polled; a failing meter is retried only when no healthy meter is due. The bus runs one transaction at a
time, so a healthy meter that falls due while a failing meter's retry runs waits for that one
transaction (at most its timeout) and never more: a dead meter costs its neighbours at most one
transaction of delay, never a period. The one exception is a bus that its healthy meters alone keep
busy (periods too short for the line): there a failing meter that good polls have kept waiting for its
backoff and its period goes first, or it would never be heard from again.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class Slot:
    """One meter's place in the schedule."""

    meter: str
    period: float
    origin: float
    """A grid point: the meter is due at origin + k × period while it is healthy."""
    due: float
    failures: int = 0
    retry_at: float = 0.0
    skipped: int = 0
    """Grid points of a healthy meter that passed without a poll because the bus was busy."""
    good_time_at_failure: float = 0.0

    @property
    def next_at(self) -> float:
        """When the meter next wants the bus."""
        return self.retry_at if self.failures else self.due


class Schedule:
    """Due times, phases and backoff of the meters on one bus."""

    def __init__(self, meters: Iterable[tuple[str, float]], *, start: float, retry_s: float = 1.0,
                 backoff_max_s: float = 300.0) -> None:
        meters = list(meters)
        if not meters:
            raise ValueError("a schedule needs at least one meter")
        if retry_s <= 0 or backoff_max_s < retry_s:
            raise ValueError(f"need 0 < retry_s <= backoff_max_s, got {retry_s} and {backoff_max_s}")
        self.retry_s, self.backoff_max_s = retry_s, backoff_max_s
        self._good_time = 0.0  # bus time spent on good polls, from the pick() that started each to its end
        self._started = start
        self.slots: dict[str, Slot] = {}
        for index, (meter, period) in enumerate(meters):
            if meter in self.slots:
                raise ValueError(f"meter {meter!r} is listed twice")
            if not period > 0:
                raise ValueError(f"meter {meter!r}: period must be positive, not {period}")
            origin = start + period * index / len(meters)
            self.slots[meter] = Slot(meter, period, origin, due=origin)

    def pick(self, now: float) -> str | None:
        """The meter to poll now (a due healthy meter first, earliest due), or None if none is due."""
        self._started = now
        healthy = [s for s in self.slots.values() if not s.failures and s.due <= now]
        failing = [s for s in self.slots.values() if s.failures and s.retry_at <= now]
        if starved := [s for s in failing if self.starved(s, now)]:
            return min(starved, key=lambda s: s.retry_at).meter
        if healthy:
            return min(healthy, key=lambda s: s.due).meter
        if failing:
            return min(failing, key=lambda s: s.retry_at).meter
        return None

    def starved(self, slot: Slot, now: float) -> bool:
        """Whether good polls have held a failing meter off for its backoff plus its period since it failed.

        That takes a bus that its healthy meters alone keep busy (periods too short for the line); a retry
        then goes ahead of them, so one bad reply does not silence a meter for good. Only time spent on
        good polls counts: failing meters that wait for each other are not starved.
        """
        held_off = self._good_time - slot.good_time_at_failure
        return (bool(slot.failures) and slot.retry_at <= now
                and held_off >= self.backoff(slot) + max(self.backoff(slot), slot.period))

    def next_wakeup(self) -> float:
        """The earliest time any meter wants the bus."""
        return min(slot.next_at for slot in self.slots.values())

    def succeeded(self, meter: str, now: float) -> None:
        """Record a good poll that ended at `now`: the meter is back on its grid, its backoff reset."""
        slot = self.slots[meter]
        self._good_time += max(0.0, now - self._started)
        following = self._following(slot, now)
        if not slot.failures and slot.due <= now:
            slot.skipped += max(0, round((following - slot.due) / slot.period) - 1)
        slot.failures = 0
        slot.due = following

    def failed(self, meter: str, now: float) -> float:
        """Record a failed poll that ended at `now`; return the delay before the meter is tried again."""
        slot = self.slots[meter]
        slot.failures += 1
        slot.good_time_at_failure = self._good_time
        delay = self.backoff(slot)
        slot.retry_at = now + delay
        slot.due = self._following(slot, now)
        return delay

    def backoff(self, slot: Slot) -> float:
        """The retry delay after the slot's current run of failures."""
        cap = max(self.backoff_max_s, slot.period)
        exponent = min(slot.failures - 1, 64)  # beyond this the cap has long been reached
        return min(self.retry_s * 2.0 ** exponent, cap)

    @staticmethod
    def _following(slot: Slot, now: float) -> float:
        """The slot's first grid point after `now`."""
        following = slot.origin + (math.floor((now - slot.origin) / slot.period) + 1) * slot.period
        return following if following > now else following + slot.period  # float rounding at a grid point
