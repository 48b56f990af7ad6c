"""Shared-area allocation (公摊): largest remainder to the cent, parts summing exactly to the total."""
from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.billing.pricing import PricingError, allocate


def test_equal_weights_tie_break_by_smallest_key():
    # 100.00 / 3 = 33.333...: each gets 33.33, the one cent left goes to the smallest key
    assert allocate(D("100.00"), {"c": D(1), "a": D(1), "b": D(1)}) == {"c": D("33.33"), "a": D("33.34"),
                                                                        "b": D("33.33")}


def test_result_does_not_depend_on_key_order_and_keeps_it():
    weights = {"1-101": D(1), "1-102": D(1), "1-103": D(1), "1-104": D(1), "1-105": D(1), "1-106": D(1)}
    forward = allocate(D("0.04"), weights)
    backward = allocate(D("0.04"), dict(reversed(weights.items())))
    assert forward == backward == {"1-101": D("0.01"), "1-102": D("0.01"), "1-103": D("0.01"),
                                   "1-104": D("0.01"), "1-105": D(0), "1-106": D(0)}
    assert list(backward) == list(reversed(weights))


def test_by_area_largest_remainder():
    # 1000.00 over 89.50 + 120.25 + 65.00 = 274.75 m²:
    # in cents 32575.068.., 43767.061.., 23657.870..: the floors sum to 99999, one cent short,
    # which goes to the largest remainder (.870, unit 201)
    parts = allocate(D("1000.00"), {"101": D("89.50"), "102": D("120.25"), "201": D("65.00")})
    assert parts == {"101": D("325.75"), "102": D("437.67"), "201": D("236.58")}
    assert sum(parts.values()) == D("1000.00")


def test_by_units_with_a_zero_weight():
    parts = allocate(D("10.00"), {"shop": D(0), "101": D(1), "102": D(2)})
    assert parts == {"shop": D("0.00"), "101": D("3.33"), "102": D("6.67")}


def test_credit_mirrors_the_charge():
    weights = {"a": D(1), "b": D(1), "c": D(1)}
    assert allocate(D("-100.00"), weights) == {"a": D("-33.34"), "b": D("-33.33"), "c": D("-33.33")}


def test_zero_total():
    assert allocate(D("0.00"), {"a": D(1), "b": D(3)}) == {"a": D(0), "b": D(0)}


def test_all_zero_weights_is_a_clear_error():
    with pytest.raises(PricingError, match="all weights are zero"):
        allocate(D("10.00"), {"a": D(0), "b": D(0)})
    with pytest.raises(PricingError, match="all weights are zero"):
        allocate(D("10.00"), {})


def test_refuses_negative_weights_sub_cent_totals_and_floats():
    with pytest.raises(PricingError, match="must not be negative"):
        allocate(D("10.00"), {"a": D(1), "b": D(-1)})
    with pytest.raises(PricingError, match="to_cents first"):
        allocate(D("10.005"), {"a": D(1)})
    with pytest.raises(TypeError):
        allocate(D("10.00"), {"a": 0.5})


totals = st.integers(min_value=-10**9, max_value=10**9).map(lambda cents: D(cents).scaleb(-2))
positive = st.decimals(min_value=D("0.001"), max_value=D("100000"), places=3)
keys = st.text(alphabet="ABC0123-", min_size=1, max_size=6)


def exact_share(total: D, weight: D, whole: D) -> Fraction:
    return Fraction(total) * Fraction(weight) / Fraction(whole)


@given(total=totals, weights=st.dictionaries(keys, positive, min_size=1, max_size=40))
def test_parts_sum_exactly_and_each_is_within_a_cent_of_its_share(total, weights):
    parts = allocate(total, weights)
    assert sum(parts.values()) == total
    assert list(parts) == list(weights)
    whole = sum(weights.values())
    for key, part in parts.items():
        assert part == part.quantize(D("0.01"))
        assert abs(Fraction(part) - exact_share(total, weights[key], whole)) < Fraction(1, 100)


@given(total=totals, weights=st.dictionaries(keys, st.one_of(st.just(D(0)), positive), min_size=1, max_size=20))
def test_credits_are_symmetric_and_zero_weights_get_zero(total, weights):
    if not any(weights.values()):
        with pytest.raises(PricingError):
            allocate(total, weights)
        return
    parts = allocate(total, weights)
    assert allocate(-total, weights) == {key: -part for key, part in parts.items()}
    assert all(parts[key] == 0 for key, weight in weights.items() if weight == 0)
    assert sum(parts.values()) == total
