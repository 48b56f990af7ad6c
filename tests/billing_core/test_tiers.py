"""Money rounding and cumulative annual tiers (阶梯价), including household adjustments and the year boundary."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

import pytest

from central.billing import params
from central.billing.errors import Invalid
from central.billing.pricing import (
    BillLine, HouseholdAdjustment, PricingError, RuleRef, Tier, TierTable, bill_line, lines_total,
    price_tiered, price_tiered_across_year, round_to_step, split_at_new_year, to_cents)

WATER = RuleRef("water-tiers", "2023-01")
WATER_2024 = RuleRef("water-tiers", "2024-01")
TABLE = TierTable(WATER, "m³", (Tier(D(0), D("3.45")), Tier(D(180), D("4.83")), Tier(D(260), D("5.83"))))


def amounts(lines: tuple[BillLine, ...]) -> list[tuple[D, D, D]]:
    return [(line.quantity, line.unit_price, line.amount) for line in lines]


@pytest.mark.parametrize(("value", "cents"), [
    (D("0.005"), D("0.01")), (D("-0.005"), D("-0.01")), (D("0.015"), D("0.02")), (D("0.025"), D("0.03")),
    (D("1.004999"), D("1.00")), (D("2"), D("2.00")), (D("-1.235"), D("-1.24")),
])
def test_to_cents_rounds_half_up_away_from_zero(value, cents):
    assert str(to_cents(value)) == str(cents)


def test_floats_are_refused_with_the_decimal_to_pass():
    with pytest.raises(TypeError, match=r"Decimal\('3.45'\)"):
        to_cents(3.45)
    with pytest.raises(TypeError):
        price_tiered(D(0), 10.5, TABLE)


def test_round_to_step():
    assert round_to_step(D("5.08196"), D("0.01")) == D("5.08")
    assert round_to_step(D("0.125"), D("0.01")) == D("0.13")


def test_bill_line_rounds_once_after_multiplying():
    line = bill_line("x", D("0.5"), "m³", D("3.45"), WATER)
    assert line.amount == D("1.73") and line.rule == WATER  # 1.725 -> 1.73


def test_rule_ref_needs_name_and_version():
    with pytest.raises(PricingError, match="name and a version"):
        RuleRef("water", "")


def test_bill_inside_one_tier():
    # 100 m³ already this year, 30 more: all in tier 1: 30 x 3.45 = 103.50
    lines = price_tiered(D(100), D(30), TABLE)
    assert amounts(lines) == [(D(30), D("3.45"), D("103.50"))]
    assert lines[0].rule == RuleRef("water-tiers", "2023-01")


def test_bill_crossing_one_boundary_is_split():
    # 170 before, 30 now: 170..180 is tier 1 (10 x 3.45 = 34.50), 180..200 is tier 2 (20 x 4.83 = 96.60)
    lines = price_tiered(D(170), D(30), TABLE)
    assert amounts(lines) == [(D(10), D("3.45"), D("34.50")), (D(20), D("4.83"), D("96.60"))]
    assert lines_total(lines) == D("131.10")
    assert [line.label for line in lines] == ["tier 1 (0 to 180 m³)", "tier 2 (180 to 260 m³)"]


def test_bill_crossing_two_boundaries():
    # 170 before, 100 now: 10 x 3.45 = 34.50; 80 x 4.83 = 386.40; 10 x 5.83 = 58.30; total 479.20
    lines = price_tiered(D(170), D(100), TABLE)
    assert amounts(lines) == [(D(10), D("3.45"), D("34.50")), (D(80), D("4.83"), D("386.40")),
                              (D(10), D("5.83"), D("58.30"))]
    assert lines_total(lines) == D("479.20")
    assert lines[2].label == "tier 3 (from 260 m³)"


def test_fractional_quantities_round_per_line():
    # 179.5 before, 1.25 now: 0.5 x 3.45 = 1.725 -> 1.73; 0.75 x 4.83 = 3.6225 -> 3.62; total 5.35
    lines = price_tiered(D("179.5"), D("1.25"), TABLE)
    assert amounts(lines) == [(D("0.5"), D("3.45"), D("1.73")), (D("0.75"), D("4.83"), D("3.62"))]
    assert lines_total(lines) == D("5.35")


def test_boundaries_belong_to_the_upper_tier():
    assert amounts(price_tiered(D(170), D(10), TABLE)) == [(D(10), D("3.45"), D("34.50"))]
    assert amounts(price_tiered(D(180), D(10), TABLE)) == [(D(10), D("4.83"), D("48.30"))]


def test_zero_usage_has_no_lines():
    assert price_tiered(D(200), D(0), TABLE) == ()
    assert lines_total(()) == D("0.00")


def test_negative_usage_is_refused():
    with pytest.raises(PricingError, match="metering holds negative"):
        price_tiered(D(100), D(-5), TABLE)


@pytest.mark.parametrize("tiers", [
    (), (Tier(D(10), D(1)),), (Tier(D(0), D(1)), Tier(D(0), D(2))), (Tier(D(0), D(-1)),),
])
def test_bad_tier_tables_are_refused(tiers):
    with pytest.raises(PricingError):
        TierTable(WATER, "m³", tiers)


def test_household_adjustment_moves_each_boundary_per_extra_member():
    # 7 members, base 5, +30 m³ per boundary per extra member: boundaries 180 -> 240 and 260 -> 320.
    # 200 before, 50 now: 200..240 tier 1 (40 x 3.45 = 138.00), 240..250 tier 2 (10 x 4.83 = 48.30)
    adjustment = HouseholdAdjustment(members=7, base_members=5, per_extra_member=(D(30), D(30)))
    lines = price_tiered(D(200), D(50), TABLE, adjustment)
    assert amounts(lines) == [(D(40), D("3.45"), D("138.00")), (D(10), D("4.83"), D("48.30"))]
    assert lines[0].label == "tier 1 (0 to 240 m³)"
    # Unadjusted the same bill is all tier 2: 50 x 4.83 = 241.50
    assert lines_total(price_tiered(D(200), D(50), TABLE)) == D("241.50")


def test_household_adjustment_can_widen_tiers_differently():
    adjustment = HouseholdAdjustment(members=6, base_members=5, per_extra_member=(D(30), D(60)))
    assert [t.start for t in adjustment.apply(TABLE)] == [D(0), D(210), D(320)]


def test_household_at_or_below_base_is_unchanged():
    adjustment = HouseholdAdjustment(members=3, base_members=5, per_extra_member=(D(30), D(30)))
    assert price_tiered(D(170), D(30), TABLE, adjustment) == price_tiered(D(170), D(30), TABLE)


def test_household_adjustment_must_fit_the_table():
    with pytest.raises(PricingError, match="one per boundary"):
        price_tiered(D(0), D(1), TABLE, HouseholdAdjustment(6, 5, (D(30),)))
    with pytest.raises(PricingError, match="must increase"):
        price_tiered(D(0), D(1), TABLE, HouseholdAdjustment(6, 5, (D(100), D(0))))


def test_split_at_new_year_by_days():
    # Read 1 Dec 2023 and 31 Jan 2024: 31 days in 2023, 30 in 2024. 30.50 x 31/61 = 15.50; the rest 15.00
    assert split_at_new_year(D("30.50"), date(2023, 12, 1), date(2024, 1, 31)) == (D("15.50"), D("15.00"))
    # 10 x 31/61 = 5.0819... -> 5.08, the new year gets 4.92 so the parts sum exactly
    old, new = split_at_new_year(D(10), datetime(2023, 12, 1, 8), datetime(2024, 1, 31, 8))
    assert (old, new, old + new) == (D("5.08"), D("4.92"), D(10))


@pytest.mark.parametrize(("start", "end"), [
    (date(2023, 11, 1), date(2023, 12, 31)), (date(2024, 1, 1), date(2024, 2, 1)),
    (date(2022, 12, 1), date(2024, 1, 31)),
])
def test_split_refuses_periods_not_crossing_exactly_one_new_year(start, end):
    with pytest.raises(PricingError):
        split_at_new_year(D(10), start, end)


def test_bill_crossing_the_year_restarts_the_count_on_1_january():
    # 170 m³ billed in 2023 before this bill; the bill's 30.50 splits 15.50 (2023) + 15.00 (2024).
    # 2023: 170..180 tier 1 (10 x 3.45 = 34.50), 180..185.5 tier 2 (5.5 x 4.83 = 26.565 -> 26.57)
    # 2024 from 0 at the 2024 table: 15 x 3.60 = 54.00
    table_2024 = TierTable(WATER_2024, "m³", (Tier(D(0), D("3.60")), Tier(D(180), D("5.00")), Tier(D(260), D(6))))
    old_part, new_part = split_at_new_year(D("30.50"), date(2023, 12, 1), date(2024, 1, 31))
    old, new = price_tiered_across_year(D(170), old_part, new_part, TABLE, table_2024)
    assert amounts(old) == [(D(10), D("3.45"), D("34.50")), (D("5.50"), D("4.83"), D("26.57"))]
    assert amounts(new) == [(D("15.00"), D("3.60"), D("54.00"))]
    assert {line.rule for line in old} == {WATER} and {line.rule for line in new} == {WATER_2024}


def test_year_crossing_with_readings_at_year_end_and_same_table():
    # A reading at 31 Dec 24:00 gave 12 m³ in 2023 and 7 in 2024 directly; 175 before in 2023.
    old, new = price_tiered_across_year(D(175), D(12), D(7), TABLE)
    assert amounts(old) == [(D(5), D("3.45"), D("17.25")), (D(7), D("4.83"), D("33.81"))]
    assert amounts(new) == [(D(7), D("3.45"), D("24.15"))]


def test_a_free_tier_is_refused_because_its_usage_would_never_reach_the_next_tier():
    free_allowance = {"unit": "m³", "tiers": [{"start": "0", "price": "0.00"}, {"start": "10", "price": "3.45"}]}
    with pytest.raises(Invalid) as refused:
        params.validate("usage_tiered", free_allowance)
    assert refused.value.field == "parameters.tiers.0.price" and "price above 0" in str(refused.value)
    priced = {"unit": "m³", "tiers": [{"start": "0", "price": "0.01"}, {"start": "10", "price": "3.45"}]}
    assert params.validate("usage_tiered", priced)["tiers"][0]["price"] == "0.01"
