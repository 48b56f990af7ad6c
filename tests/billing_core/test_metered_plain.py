"""The bill run's shortcut for plain meter points gives what the metering rule gives, or leaves the point to it."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.billing.metered import _Bounds, _Decoder, _plain, _Rules
from central.metering.common import TOLERANCE
from central.metering.consumption import EstimateRule, MeteringError, MeterSpec, Reading, consumption_for_period

WATER = MeterSpec("water", rollover_limit=D("99999.99"), max_per_day=D(5))
START, END = datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC)
BOUNDS = _Bounds(START - TOLERANCE, START, END - TOLERANCE, END)


def _rule(rows: list[tuple]) -> object:
    readings = [Reading(at, value, serial) for at, value, serial, _ in rows]
    return consumption_for_period(readings, START, END, WATER, estimate=EstimateRule.none(), tolerance=TOLERANCE)


def _check(rows: list[tuple]) -> object:
    """The shortcut's answer, after checking it against the rule's when it gives one."""
    got = _plain(7, rows, BOUNDS, _Rules(WATER, {}), _Decoder(sqlite=False))
    if got is not None:
        expected = _rule(rows)
        assert (got.status, got.quantity, got.start, got.end, got.reasons) == (
            str(expected.status), expected.quantity, expected.start, expected.end, expected.reasons)
        assert str(got.quantity) == str(expected.quantity)
        assert (got.point_id, got.estimate_to_store) == (7, False)
    return got


def test_the_usual_month_is_taken_by_the_shortcut():
    got = _check([(START, D("1000.00"), "A", "[]"), (END, D("1030.25"), "A", "[]")])
    assert got is not None and got.quantity == D("30.25")
    got = _check([(START - timedelta(hours=3), D("1000.00"), "A", "[]"), (START + timedelta(days=9), D("1010.00"),
                  "A", "[]"), (END - timedelta(hours=2), D("1030.25"), "A", "[]")])
    assert got is not None and got.quantity == D("30.25") and got.start.at == START - timedelta(hours=3)


@pytest.mark.parametrize("rows", [
    [(START, D("1000.00"), "A", "[]")],  # no end reading
    [(START, D("1000.00"), "A", "[]"), (END, D("999.00"), "A", "[]")],  # a drop
    [(START, D("1000.00"), "A", "[]"), (END, D("1200.00"), "A", "[]")],  # more than 5 a day
    [(START, D("1000.00"), "A", "[]"), (END, D("1010.00"), "B", "[]")],  # another meter
    [(START, D("1000.00"), "A", '["estimated"]'), (END, D("1010.00"), "A", "[]")],  # a flag
    [(START, D("99999.99"), "A", "[]"), (END, D("100000.00"), "A", "[]")],  # past the register
    [(START - timedelta(hours=25), D("1000.00"), "A", "[]"), (END, D("1010.00"), "A", "[]")],  # start too early
    [(START, D("1000.00"), "A", "[]"), (END + timedelta(hours=1), D("1010.00"), "A", "[]")],  # end too late
    [(START, D("1000.00"), "A", "[]"), (START + timedelta(days=9), D("990.00"), "A", "[]"),
     (END, D("1010.00"), "A", "[]")],  # a drop on the way
    [(START, D("1000.00"), "A", "[]"), (START + timedelta(days=9), D("1100.00"), "A", "[]"),
     (END, D("1200.00"), "A", "[]")],  # more than 5 a day, on the way
    [(START, D("99999.00"), "A", "[]"), (START + timedelta(days=9), D("100000.00"), "A", "[]"),
     (END, D("100000.50"), "A", "[]")],  # past the register, on the way
])
def test_anything_else_is_left_to_the_rule(rows):
    assert _check(rows) is None


def test_two_readings_at_one_instant_are_left_to_the_rule_which_refuses_them():
    rows = [(START, D("1000.00"), "A", "[]"), (START, D("1000.00"), "A", "[]"), (END, D("1001.00"), "A", "[]")]
    assert _check(rows) is None
    with pytest.raises(MeteringError):
        _rule(rows)


LAST = 31 * 24
hours = st.one_of(st.integers(min_value=-30, max_value=2), st.integers(min_value=3, max_value=LAST - 25),
                  st.integers(min_value=LAST - 26, max_value=LAST + 2)).map(lambda h: START + timedelta(hours=h))
values = st.decimals(min_value=D(0), max_value=D("100000.50"), places=2)
steps = st.one_of(st.decimals(min_value=D(-2), max_value=D(60), places=2), st.just(D(0)))
rows_of = st.lists(st.tuples(hours, steps, st.sampled_from(["A", "A", "A", "B"]),
                             st.sampled_from(["[]", "[]", "[]", '["invalid"]'])), max_size=6)


@given(rows=rows_of, first=st.one_of(st.just(D("1000.00")), st.just(D("99990.00")), values))
def test_the_shortcut_agrees_with_the_rule_whenever_it_answers(rows, first):
    rows = sorted(rows, key=lambda row: row[0])
    value, readings = first, []
    for at, step, serial, flags in rows:  # register values that mostly rise a little, sometimes drop or overflow
        value += step
        readings.append((at, value, serial, flags))
    if any(a[0] == b[0] and a[2] == b[2] for a, b in pairwise(readings)):
        assert _check(readings) is None  # the rule refuses these
        return
    if readings:
        _check(readings)


@given(start=values, rises=st.lists(st.decimals(min_value=D(0), max_value=D(30), places=2), min_size=1,
                                    max_size=4))
def test_readings_that_only_rise_are_plain(start, rises):
    total = sum(rises, D(0))
    if start + total > WATER.rollover_limit or total > 155:
        return
    times = [START] + [START + timedelta(days=1 + i) for i in range(len(rises) - 1)] + [END]
    values_ = [start]
    for step in rises:
        values_.append(values_[-1] + step)
    rows = [(at, value, "A", "[]") for at, value in zip(times, values_)]
    got = _check(rows)
    assert got is not None and got.quantity == total
