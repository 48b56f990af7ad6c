"""Property fees by area with part months by days, and temporary parking with free minutes, blocks and caps."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from central.billing.pricing import (
    CapWindow, ParkingTariff, PricingError, RuleRef, area_fee, lines_total, parking_fee)

FEE = RuleRef("property-fee", "2024")
PARK = RuleRef("visitor-parking", "v3")


def test_whole_months_are_one_line():
    # 89.50 m² x 2.80 = 250.60 a month; January to March = 3 x 250.60 = 751.80
    lines = area_fee(D("89.50"), D("2.80"), date(2024, 1, 1), date(2024, 3, 31), FEE)
    assert [(l.label, l.quantity, l.unit_price, l.amount) for l in lines] == [
        ("3 full months", D(3), D("250.6000"), D("751.80"))]
    assert lines[0].rule == FEE


def test_whole_months_cost_the_same_whatever_their_length():
    feb = area_fee(D(100), D(2), date(2023, 2, 1), date(2023, 2, 28), FEE)
    jan = area_fee(D(100), D(2), date(2023, 1, 1), date(2023, 1, 31), FEE)
    assert lines_total(feb) == lines_total(jan) == D("200.00")


def test_move_in_mid_month_pro_rates_by_days_of_that_month():
    # From 20 March: 12 of 31 days: 250.60 x 12/31 = 97.0064... -> 97.01; April and May 2 x 250.60 = 501.20
    lines = area_fee(D("89.50"), D("2.80"), date(2024, 3, 20), date(2024, 5, 31), FEE)
    assert [(l.label, l.quantity, l.amount) for l in lines] == [
        ("2024-03-20 to 2024-03-31 (12/31 days)", D("0.3871"), D("97.01")),
        ("2 full months", D(2), D("501.20"))]
    assert lines_total(lines) == D("598.21")


def test_part_months_at_both_ends_and_leap_february():
    # 15..29 Feb 2024 is 15/29: 250.60 x 15/29 = 129.6206... -> 129.62; March full 250.60;
    # 1..10 April is 10/30: 83.5333... -> 83.53
    lines = area_fee(D("89.50"), D("2.80"), date(2024, 2, 15), date(2024, 4, 10), FEE)
    assert [l.amount for l in lines] == [D("129.62"), D("250.60"), D("83.53")]
    assert lines[0].label.endswith("(15/29 days)") and lines[2].label.endswith("(10/30 days)")


def test_days_inside_one_month():
    # 10..19 April: 10/30 x 250.60 = 83.53
    assert [l.amount for l in area_fee(D("89.50"), D("2.80"), date(2024, 4, 10), date(2024, 4, 19), FEE)] == [
        D("83.53")]


def test_part_month_amount_is_exact_before_rounding_half_up():
    # 1 m² at 4.495 for 1 of 31 days is exactly 0.145: half-up gives 0.15 (banker's rounding would give 0.14)
    assert lines_total(area_fee(D(1), D("4.495"), date(2024, 1, 5), date(2024, 1, 5), FEE)) == D("0.15")


def test_area_fee_refuses_bad_input():
    with pytest.raises(PricingError, match="both days are included"):
        area_fee(D(1), D(1), date(2024, 2, 1), date(2024, 1, 31), FEE)
    with pytest.raises(PricingError, match="negative"):
        area_fee(D(-1), D(1), date(2024, 1, 1), date(2024, 1, 31), FEE)
    with pytest.raises(TypeError):
        area_fee(89.5, D(1), date(2024, 1, 1), date(2024, 1, 31), FEE)


T0 = datetime(2024, 5, 1, 8, 0)


def tariff(**overrides) -> ParkingTariff:
    values = dict(rule=PARK, free_minutes=15, block_minutes=30, block_price=D(2), daily_cap=D(20))
    return ParkingTariff(**(values | overrides))


def fee(minutes: float, **overrides) -> D:
    return lines_total(parking_fee(T0, T0 + timedelta(minutes=minutes), tariff(**overrides)))


@pytest.mark.parametrize(("minutes", "amount"), [
    (0, D(0)), (10, D(0)), (15, D(0)),  # within the free minutes, the 15th included
    (15 + 1 / 60, D(2)), (16, D(2)), (30, D(2)),  # past them: charged from entry, one block started
    (31, D(4)), (180, D(12)),  # 3 h = 6 blocks, under the 20.00 cap
    (300, D(20)), (12 * 60, D(20)),  # 10 blocks = 20.00 exactly is not capped; 24 blocks = 48.00 capped
])
def test_parking_free_minutes_blocks_and_cap(minutes, amount):
    assert fee(minutes) == amount


def test_free_minutes_deducted_when_the_tariff_says_so():
    # 40 min: from entry that is 2 blocks (4.00); with 15 free minutes deducted it is 25 min, 1 block (2.00)
    assert fee(40) == D(4)
    assert fee(40, free_minutes_deducted=True) == D(2)


def test_within_free_minutes_has_no_lines():
    assert parking_fee(T0, T0 + timedelta(minutes=5), tariff()) == ()


def test_capped_day_is_one_line_at_the_cap():
    lines = parking_fee(T0, T0 + timedelta(hours=12), tariff())
    assert [(l.label, l.quantity, l.unit, l.unit_price, l.amount, l.rule) for l in lines] == [
        ("day 1 from entry: daily cap", D(1), "day", D(20), D("20.00"), PARK)]


def test_multi_day_stay_rolling_24h_from_entry():
    # 1 May 08:00 to 3 May 09:10: two full 24 h windows at the cap (20.00 each), then 08:00..09:10
    # starts 3 blocks (08:00, 08:30, 09:00) = 6.00; total 46.00
    lines = parking_fee(T0, datetime(2024, 5, 3, 9, 10), tariff())
    assert [(l.label, l.amount) for l in lines] == [
        ("day 1 from entry: daily cap", D("20.00")), ("day 2 from entry: daily cap", D("20.00")),
        ("day 3 from entry", D("6.00"))]
    assert lines[2].quantity == D(3)


def test_multi_day_stay_by_calendar_day():
    # Same stay by calendar day: 1 May 08:00..24:00 = 32 blocks, capped; 2 May capped; 3 May 00:00..09:10
    # = 19 blocks (38.00), capped: total 60.00
    lines = parking_fee(T0, datetime(2024, 5, 3, 9, 10), tariff(cap_window="calendar_day"))
    assert [(l.label, l.amount) for l in lines] == [
        ("2024-05-01: daily cap", D("20.00")), ("2024-05-02: daily cap", D("20.00")),
        ("2024-05-03: daily cap", D("20.00"))]


def test_overnight_stay_cap_window_matters():
    # 14:00 to 02:00: rolling is one 12 h window (24 blocks, capped 20.00); by calendar day 1 May has
    # 20 blocks (capped 20.00) and 2 May 4 blocks (8.00): 28.00
    entry, leaving = datetime(2024, 5, 1, 14), datetime(2024, 5, 2, 2)
    assert lines_total(parking_fee(entry, leaving, tariff())) == D("20.00")
    assert lines_total(parking_fee(entry, leaving, tariff(cap_window=CapWindow.CALENDAR_DAY))) == D("28.00")


def test_blocks_run_on_across_midnight():
    # 23:50 to 00:20 is one 30-minute block, started on 1 May: midnight does not start a new block
    lines = parking_fee(datetime(2024, 5, 1, 23, 50), datetime(2024, 5, 2, 0, 20),
                        tariff(free_minutes=0, cap_window=CapWindow.CALENDAR_DAY))
    assert [(l.label, l.quantity, l.amount) for l in lines] == [("2024-05-01", D(1), D("2.00"))]


def test_no_cap_long_stay():
    assert fee(48 * 60, daily_cap=None) == D(192)


def test_aware_times_work():
    z = timezone(timedelta(hours=8))
    assert lines_total(parking_fee(T0.replace(tzinfo=z), T0.replace(tzinfo=z) + timedelta(hours=1),
                                   tariff())) == D(4)


def test_parking_refuses_bad_input():
    with pytest.raises(PricingError, match="before entry"):
        parking_fee(T0, T0 - timedelta(minutes=1), tariff())
    with pytest.raises(PricingError, match="both be naive"):
        parking_fee(T0, T0.replace(tzinfo=timezone.utc), tariff())
    with pytest.raises(PricingError, match="block_minutes"):
        tariff(block_minutes=0)
    with pytest.raises(PricingError, match="None for no cap"):
        tariff(daily_cap=D(-1))
    with pytest.raises(ValueError):
        tariff(cap_window="weekly")
