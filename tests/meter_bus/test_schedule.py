"""The bus scheduler, pure: phases, due order, backoff and the one-transaction rule, with driven time."""
from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.meter_bus import Schedule


def drive(schedule: Schedule, until: float, *, took: dict[str, float], dead: set[str] = frozenset(),
          start: float = 0.0) -> dict[str, list[float]]:
    """Run a bus on driven time: each poll of meter m takes took[m] seconds and fails if m is dead."""
    starts: dict[str, list[float]] = defaultdict(list)
    now = start
    while now < until:
        meter = schedule.pick(now)
        if meter is None:
            now = max(now, schedule.next_wakeup())
            continue
        starts[meter].append(now)
        now += took[meter]
        if meter in dead:
            schedule.failed(meter, now)
        else:
            schedule.succeeded(meter, now)
    return starts


def test_phases_spread_meters_evenly_over_their_period() -> None:
    schedule = Schedule([("a", 10.0), ("b", 10.0), ("c", 10.0), ("d", 10.0)], start=100.0)
    assert [slot.due for slot in schedule.slots.values()] == [100.0, 102.5, 105.0, 107.5]
    assert schedule.pick(99.9) is None and schedule.next_wakeup() == 100.0


def test_healthy_meters_keep_their_grid_and_do_not_drift() -> None:
    schedule = Schedule([("a", 1.0), ("b", 1.0)], start=0.0)
    starts = drive(schedule, 10.0, took={"a": 0.3, "b": 0.3})
    assert starts["a"] == pytest.approx([float(k) for k in range(10)])
    assert starts["b"] == pytest.approx([k + 0.5 for k in range(10)])


def test_due_order_is_earliest_due_first() -> None:
    schedule = Schedule([("a", 10.0), ("b", 1.0)], start=0.0)
    assert schedule.pick(0.0) == "a"  # b's phase is 1/2 of its period: due at 0.5
    schedule.succeeded("a", 0.1)
    assert schedule.pick(0.1) is None and schedule.pick(0.6) == "b"


def test_a_late_poll_skips_the_grid_points_it_missed_instead_of_bursting() -> None:
    schedule = Schedule([("a", 1.0)], start=0.0)
    assert schedule.pick(3.2) == "a"
    schedule.succeeded("a", 3.3)
    slot = schedule.slots["a"]
    assert (slot.due, slot.skipped) == (4.0, 3)  # polled once for 0.0; 1, 2 and 3 passed without a poll


def test_backoff_doubles_up_to_the_cap_and_resets_on_success() -> None:
    schedule = Schedule([("a", 5.0)], start=0.0, retry_s=1.0, backoff_max_s=30.0)
    delays = [schedule.failed("a", float(n)) for n in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert schedule.slots["a"].retry_at == 37.0
    schedule.succeeded("a", 40.0)
    assert (schedule.slots["a"].failures, schedule.slots["a"].due) == (0, 45.0)  # back on its grid
    assert schedule.failed("a", 41.0) == 1.0


def test_the_cap_is_at_least_the_meter_period() -> None:
    schedule = Schedule([("a", 900.0)], start=0.0, retry_s=60.0, backoff_max_s=300.0)
    assert [schedule.failed("a", 0.0) for _ in range(6)] == [60.0, 120.0, 240.0, 480.0, 900.0, 900.0]


def test_a_dead_meter_is_retried_with_backoff() -> None:
    schedule = Schedule([("dead", 1.0)], start=0.0, retry_s=1.0, backoff_max_s=8.0)
    starts = drive(schedule, 40.0, took={"dead": 0.5}, dead={"dead"})
    gaps = [b - a for a, b in zip(starts["dead"], starts["dead"][1:])]
    assert gaps[:4] == pytest.approx([1.5, 2.5, 4.5, 8.5])  # each retry waits out its poll, then 1, 2, 4, 8 s
    assert gaps[-1] == pytest.approx(8.5)


def test_healthy_meters_go_first_even_when_a_failing_one_was_due_earlier() -> None:
    schedule = Schedule([("dead", 1.0), ("ok", 1.0)], start=0.0, retry_s=0.1)
    assert schedule.pick(0.0) == "dead"
    schedule.failed("dead", 0.6)  # retry at 0.7; ok is due at 0.5
    assert schedule.pick(0.75) == "ok"
    schedule.succeeded("ok", 0.8)
    assert schedule.pick(0.8) == "dead"


def test_dead_meters_cost_a_healthy_meter_at_most_one_transaction() -> None:
    periods = {f"ok{i}": 2.0 for i in range(6)} | {f"dead{i}": 2.0 for i in range(4)}
    took = {meter: 0.9 if meter.startswith("dead") else 0.05 for meter in periods}
    schedule = Schedule(periods.items(), start=0.0, retry_s=0.1, backoff_max_s=0.2)
    starts = drive(schedule, 200.0, took=took, dead={m for m in periods if m.startswith("dead")})
    for meter in (m for m in periods if m.startswith("ok")):
        # The first round cannot know which meters are dead; from the second on, each is a known failure.
        settled = [start for start in starts[meter] if start >= 4.0]
        slot = schedule.slots[meter]
        lateness = [start - (slot.origin + round((start - slot.origin) / 2.0) * 2.0) for start in settled]
        # Late by at most one dead transaction (0.9 s) plus the healthy polls queued ahead (5 × 0.05 s).
        assert 0 <= min(lateness) and max(lateness) <= 0.9 + 5 * 0.05 + 1e-9
        assert len(settled) == 98  # no period skipped: one poll per grid point from 4 s to 200 s


@settings(max_examples=200, deadline=None)
@given(
    periods=st.lists(st.sampled_from([0.5, 1.0, 2.0, 5.0, 15.0]), min_size=1, max_size=12),
    dead=st.sets(st.integers(0, 11)),
    took=st.lists(st.floats(0.01, 0.6), min_size=12, max_size=12),
    retry=st.floats(0.05, 2.0),
)
def test_a_failing_meter_starts_while_a_healthy_one_is_due_only_when_starved(periods, dead, took, retry) -> None:
    names = [f"m{i}" for i in range(len(periods))]
    schedule = Schedule(zip(names, periods), start=0.0, retry_s=retry, backoff_max_s=max(retry, 10.0))
    now = 0.0
    while now < 60.0:
        meter = schedule.pick(now)
        if meter is None:
            now = schedule.next_wakeup()
            continue
        slot = schedule.slots[meter]
        if slot.failures and not schedule.starved(slot, now):
            assert not any(not s.failures and s.due <= now for s in schedule.slots.values())
        index = names.index(meter)
        now += took[index]
        if index in dead:
            schedule.failed(meter, now)
        else:
            schedule.succeeded(meter, now)
        assert schedule.slots[meter].next_at > now  # a meter is never due again the moment its poll ends


def test_a_bus_saturated_by_healthy_meters_still_retries_a_failing_one() -> None:
    schedule = Schedule([("a", 0.1), ("b", 0.1), ("flaky", 0.1)], start=0.0, retry_s=0.2, backoff_max_s=0.4)
    starts = drive(schedule, 30.0, took={"a": 0.11, "b": 0.11, "flaky": 0.11}, dead={"flaky"})
    assert len(starts["flaky"]) >= 30  # about every 2 x 0.4 s + a transaction, not once and never again
    assert min(len(starts["a"]), len(starts["b"])) >= 100


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one meter"):
        Schedule([], start=0.0)
    with pytest.raises(ValueError, match="listed twice"):
        Schedule([("a", 1.0), ("a", 2.0)], start=0.0)
    with pytest.raises(ValueError, match="period must be positive"):
        Schedule([("a", 0.0)], start=0.0)
    with pytest.raises(ValueError, match="retry_s"):
        Schedule([("a", 1.0)], start=0.0, retry_s=5.0, backoff_max_s=1.0)
