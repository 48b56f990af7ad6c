"""公摊 in integers gives exactly what the definition in fractions gives: the same cents for every key."""
from __future__ import annotations

import math
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from central.billing.pricing import allocate


def allocate_by_fractions(total: D, weights: dict) -> dict:
    """The definition as first written (exact fractions): floor of each exact share, the cents left over one
    each to the largest remainders, ties to the smallest key; a credit mirrors the charge."""
    whole = sum(weights.values(), D(0))
    cents = int(total.scaleb(2))
    exact = {key: Fraction(abs(cents)) * Fraction(weight) / Fraction(whole) for key, weight in weights.items()}
    parts = {key: math.floor(value) for key, value in exact.items()}
    leftover = abs(cents) - sum(parts.values())
    for key in sorted(weights, key=lambda key: (-(exact[key] - parts[key]), key))[:leftover]:
        parts[key] += 1
    sign = -1 if cents < 0 else 1
    return {key: D(sign * parts[key]).scaleb(-2) for key in weights}


totals = st.integers(min_value=-10**11, max_value=10**11).map(lambda cents: D(cents).scaleb(-2))
weights_of = st.one_of(
    st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),  # areas
    st.decimals(min_value=D(0), max_value=D(1000), places=3),
    st.integers(min_value=0, max_value=5).map(D),  # units, and zeros
    st.decimals(min_value=D("0.0001"), max_value=D(10), places=4),
    st.sampled_from([D("1E+2"), D("2.50E+1"), D("0.10"), D("0.1"), D(7)]),  # exponents of every kind
)


def _same(total: D, weights: dict) -> None:
    if sum(weights.values(), D(0)) == 0:
        return
    got, expected = allocate(total, weights), allocate_by_fractions(total, weights)
    assert got == expected
    assert [str(v) for v in got.values()] == [str(v) for v in expected.values()]
    assert list(got) == list(weights)


@given(total=totals, weights=st.dictionaries(st.integers(min_value=1, max_value=10**6), weights_of, min_size=1,
                                             max_size=60))
def test_integer_allocation_is_the_exact_definition(total, weights):
    _same(total, weights)


@given(total=totals, weight=weights_of, count=st.integers(min_value=1, max_value=40))
def test_ties_go_to_the_smallest_unit_id_as_defined(total, weight, count):
    _same(total, {unit_id: weight for unit_id in range(count, 0, -1)})


@given(total=totals, weights=st.dictionaries(st.text(alphabet="AB12-", min_size=1, max_size=4), weights_of,
                                             min_size=1, max_size=30))
def test_string_keys_too(total, weights):
    _same(total, weights)


def test_a_large_estate_by_area():
    weights = {unit_id: D(6000 + unit_id * 37 % 9000).scaleb(-2) for unit_id in range(1, 5001)}
    for total in (D("21250.00"), D("-0.07"), D("0.00"), D("1.00"), D("123456789.01")):
        _same(total, weights)
        assert sum(allocate(total, weights).values()) == total
