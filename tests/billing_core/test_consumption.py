"""Consumption from cumulative readings: rollover, replacement, negative and spike held, missing and estimated."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.metering.consumption import (
    EstimateRule, MeteringError, MeterSpec, PastPeriod, Quality, Reading, Replacement, Status,
    consumption_for_period)
from central.metering.findings import (
    Estimated, EstimatedEndReading, EstimateUnavailable, IgnoredReading, Implausible, MeterMismatch, MeterReplaced,
    MissingReading, NegativeStep, OutOfRange, Rollover, TrueUp)

WATER = MeterSpec("water", rollover_limit=D("99999.99"), max_per_day=D(5))  # 31 days: at most 155 m³
JAN, FEB, MAR = datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 3, 1)
NONE = EstimateRule.none()


def r(at: datetime, value: str, serial: str = "A", quality: Quality = Quality.NONE) -> Reading:
    return Reading(at, D(value), serial, quality)


def jan(readings, spec=WATER, **kwargs):
    kwargs.setdefault("estimate", NONE)
    return consumption_for_period(readings, JAN, FEB, spec, **kwargs)


def test_plain_period():
    result = jan([r(JAN, "1000.00"), r(datetime(2024, 1, 15), "1012.50"), r(FEB, "1030.25")])
    assert (result.status, result.quantity, result.findings, result.reasons) == (Status.OK, D("30.25"), (), ())
    assert (result.start.value, result.end.value) == (D("1000.00"), D("1030.25"))


def test_endpoint_is_the_latest_reading_at_or_before_the_boundary_within_tolerance():
    # 23:55 on 31 Dec serves as the start; 00:05 on 1 Feb is after the end, so 31 Jan 00:05 is the end
    result = jan([r(JAN - timedelta(minutes=5), "1000.00"), r(FEB - timedelta(hours=23, minutes=55), "1029.00"),
                  r(FEB + timedelta(minutes=5), "1030.00")])
    assert (result.status, result.quantity) == (Status.OK, D("29.00"))


def test_resolution_comes_from_the_limit():
    assert WATER.resolution == D("0.01")
    assert MeterSpec("power", D("999999.9"), D(100)).resolution == D("0.1")
    assert MeterSpec("gas", D("99999"), D(10)).resolution == D(1)


@pytest.mark.parametrize("kwargs", [
    dict(rollover_limit=D("1E+5")), dict(rollover_limit=D(0)), dict(max_per_day=D(0)),
    dict(rollover_window=D(1)), dict(rollover_window=D(0)),
])
def test_bad_meter_spec(kwargs):
    with pytest.raises(MeteringError):
        MeterSpec(**(dict(kind="water", rollover_limit=D("99999.99"), max_per_day=D(5)) | kwargs))


def test_rollover():
    # 99999.99 - 99990.00 + 5.00 + 0.01 = 15.00: 9.99 up to the limit, 0.01 to wrap to 0, then 5.00
    result = jan([r(JAN, "99990.00"), r(FEB, "5.00")])
    assert (result.status, result.quantity) == (Status.OK, D("15.00"))
    assert result.findings == (Rollover(FEB, D("99990.00"), D("5.00"), D("15.00")),)


def test_rollover_between_intermediate_readings():
    # 99980.00 -> 99995.50 is 15.50; 99995.50 -> 4.50 wraps: 99999.99 - 99995.50 + 4.50 + 0.01 = 9.00; 24.50
    mid = datetime(2024, 1, 20)
    result = jan([r(JAN, "99980.00"), r(mid, "99995.50"), r(FEB, "4.50")])
    assert (result.status, result.quantity) == (Status.OK, D("24.50"))
    assert [type(f) for f in result.findings] == [Rollover]


def test_negative_reading_is_held():
    result = jan([r(JAN, "1000.00"), r(FEB, "990.00")])
    assert (result.status, result.quantity) == (Status.HELD, None)
    assert result.findings == (NegativeStep(FEB, D("1000.00"), D("990.00")),)
    assert "not a plausible rollover" in result.reasons[0]


def test_drop_near_the_limit_with_an_implausible_wrap_is_negative():
    # 99990.00 -> 50000.00 would wrap to 50010.00 in a month, far above 155: negative, held
    result = jan([r(JAN, "99990.00"), r(FEB, "50000.00")])
    assert result.status is Status.HELD and [type(f) for f in result.findings] == [NegativeStep]


def test_rollover_needs_the_previous_value_in_the_window():
    # A 999.99 register: 500.00 -> 100.00 would wrap to 999.99 - 500.00 + 100.00 + 0.01 = 600.00 (plausible
    # at 50/day) but 500 is not in the top 10% (>= 899.991), so it is negative; with a 60% window it rolls over.
    small = MeterSpec("toy", D("999.99"), D(50))
    readings = [r(JAN, "500.00"), r(FEB, "100.00")]
    assert jan(readings, small).status is Status.HELD
    wide = jan(readings, MeterSpec("toy", D("999.99"), D(50), rollover_window=D("0.6")))
    assert (wide.status, wide.quantity) == (Status.OK, D("600.00"))


def test_wrap_plausibility_is_per_step_with_a_one_day_floor():
    # Hourly readings: 99999.00 -> 3.00 one hour later wraps to 4.00, within 5 m³ (one day's allowance)
    at = datetime(2024, 1, 31, 23)
    result = jan([r(JAN, "99990.00"), r(at, "99999.00"), r(at + timedelta(hours=1), "3.00")])
    assert (result.status, result.quantity) == (Status.OK, D("13.00"))


def test_replacement():
    # A: 1000.00 on 1 Jan, removed on 10 Jan at 1008.00; B fitted at 0.00, reads 12.25 on 1 Feb.
    # (1008.00 - 1000.00) + (12.25 - 0.00) = 20.25
    swap = Replacement(datetime(2024, 1, 10, 12), "A", D("1008.00"), "B", D("0.00"))
    result = jan([r(JAN, "1000.00"), r(FEB, "12.25", "B")], replacements=[swap])
    assert (result.status, result.quantity) == (Status.OK, D("20.25"))
    assert result.findings == (MeterReplaced(swap.at, "A", D("1008.00"), "B", D("0.00")),)


def test_replacement_with_readings_at_the_swap_and_a_new_meter_not_at_zero():
    # Both meters were also read at the swap; B is refurbished and starts at 3.00:
    # (1008.00 - 1000.00) + (15.25 - 3.00) = 20.25
    at = datetime(2024, 1, 10, 12)
    swap = Replacement(at, "A", D("1008.00"), "B", D("3.00"))
    readings = [r(JAN, "1000.00"), r(datetime(2024, 1, 5), "1004.00"), r(at, "1008.00"), r(at, "3.00", "B"),
                r(datetime(2024, 1, 20), "9.00", "B"), r(FEB, "15.25", "B")]
    result = jan(readings, replacements=[swap])
    assert (result.status, result.quantity) == (Status.OK, D("20.25"))


def test_replacement_outside_the_period_is_not_applied():
    before = Replacement(datetime(2023, 12, 1), "Z", D(5), "A", D(0))
    result = jan([r(JAN, "1000.00"), r(FEB, "1010.00")], replacements=[before])
    assert (result.status, result.quantity, result.findings) == (Status.OK, D("10.00"), ())


def test_old_final_below_previous_reading_is_negative():
    swap = Replacement(datetime(2024, 1, 10), "A", D("990.00"), "B", D("0.00"))
    result = jan([r(JAN, "1000.00"), r(FEB, "5.00", "B")], replacements=[swap])
    assert result.status is Status.HELD and NegativeStep(swap.at, D("1000.00"), D("990.00")) in result.findings


def test_unknown_meter_is_held():
    result = jan([r(JAN, "1000.00"), r(FEB, "12.00", "B")])
    assert result.status is Status.HELD
    assert result.findings == (MeterMismatch(FEB, "A", "B"),)
    assert "record the replacement" in result.reasons[0]


def test_replacement_of_another_meter_is_held():
    swap = Replacement(datetime(2024, 1, 10), "Q", D("5.00"), "B", D("0.00"))
    result = jan([r(JAN, "1000.00"), r(FEB, "12.00", "B")], replacements=[swap])
    assert result.findings == (MeterMismatch(swap.at, "A", "Q"),)


def test_spike_is_held():
    # 500 m³ in 31 days against 5 a day (155): implausible
    result = jan([r(JAN, "1000.00"), r(FEB, "1500.00")])
    assert (result.status, result.quantity) == (Status.HELD, None)
    assert result.findings == (Implausible(D("500.00"), D(155), D(31)),)
    assert "exceeds the plausible 155" in result.reasons[0]


def test_spike_limit_counts_at_least_one_day():
    hour = datetime(2024, 1, 1, 1)
    short = consumption_for_period([r(JAN, "10.00"), r(hour, "14.00")], JAN, hour, WATER, estimate=NONE)
    assert (short.status, short.quantity) == (Status.OK, D("4.00"))
    spike = consumption_for_period([r(JAN, "10.00"), r(hour, "16.00")], JAN, hour, WATER, estimate=NONE)
    assert spike.status is Status.HELD and isinstance(spike.findings[0], Implausible)


def test_out_of_range_value_is_held():
    result = jan([r(JAN, "1000.00"), r(FEB, "100000.50")])
    assert result.status is Status.HELD and result.findings == (OutOfRange(FEB, D("100000.50"), D("99999.99")),)


def test_invalid_readings_are_ignored_and_noted():
    readings = [r(JAN, "1000.00"), r(datetime(2024, 1, 31, 6), "1029.00"), r(FEB, "4.00", quality=Quality.INVALID)]
    result = jan(readings)
    assert (result.status, result.quantity) == (Status.OK, D("29.00"))
    assert result.findings == (IgnoredReading(FEB, "A"),)


def test_missing_end_without_an_estimate_rule_is_held():
    result = jan([r(JAN, "1000.00"), r(datetime(2024, 1, 20), "1020.00")])
    assert (result.status, result.quantity) == (Status.HELD, None)
    assert result.findings == (MissingReading("end", FEB, estimated=False),)
    assert "pass an EstimateRule" in result.reasons[0]


def test_missing_start_without_an_estimate_rule_is_held():
    result = jan([r(FEB, "1020.00")])
    assert result.status is Status.HELD and result.findings == (MissingReading("start", JAN, estimated=False),)


def test_the_estimate_rule_must_be_explicit():
    with pytest.raises(TypeError):
        consumption_for_period([], JAN, FEB, WATER)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"EstimateRule.none\(\)"):
        consumption_for_period([], JAN, FEB, WATER, estimate=EstimateRule.none)  # type: ignore[arg-type]
    with pytest.raises(MeteringError, match="at least 1 period"):
        EstimateRule.average_daily_of_previous(0)


HISTORY = [PastPeriod(D(30), D("900.00")),  # older than the last three: not used
           PastPeriod(D(31), D("62.00")), PastPeriod(D(29), D("58.00")),
           PastPeriod(D(31), D("300.00"), estimated=True),  # an estimate: never estimate from estimates
           PastPeriod(D(31), D("62.00"))]


def test_missing_end_estimated_by_average_daily_of_previous_periods():
    # Last 3 actual periods: (62 + 58 + 62) / (31 + 29 + 31) = 182 / 91 = 2.00 a day; 31 days -> 62.00
    result = jan([r(JAN, "1000.00"), r(datetime(2024, 1, 20), "1020.00")],
                 estimate=EstimateRule.average_daily_of_previous(3), history=HISTORY)
    assert (result.status, result.quantity, result.reasons) == (Status.ESTIMATED, D("62.00"), ())
    assert result.findings == (MissingReading("end", FEB, estimated=True), Estimated(3, D(2), D(31), D("62.00")))
    assert result.end == Reading(FEB, D("1062.00"), "A", Quality.ESTIMATED)


def test_next_actual_reading_trues_up_the_stored_estimate():
    estimated_end = Reading(FEB, D("1062.00"), "A", Quality.ESTIMATED)
    result = consumption_for_period([r(JAN, "1000.00"), estimated_end, r(MAR, "1110.00")], FEB, MAR, WATER,
                                    estimate=NONE)
    assert (result.status, result.quantity) == (Status.OK, D("48.00"))
    assert result.findings == (TrueUp(FEB, D("1062.00")),)


def test_estimated_end_reading_wraps_at_the_limit():
    # 99990.00 + 62.00 = 100052.00, past the limit: 100052.00 - (99999.99 + 0.01) = 52.00
    result = jan([r(JAN, "99990.00")], estimate=EstimateRule.average_daily_of_previous(1),
                 history=[PastPeriod(D(31), D("62.00"))])
    assert result.quantity == D("62.00") and result.end.value == D("52.00")


def test_missing_start_estimated_keeps_the_actual_end():
    result = jan([r(FEB, "1020.00")], estimate=EstimateRule.average_daily_of_previous(1),
                 history=[PastPeriod(D(30), D("45.00"))])
    # 1.5 a day x 31 days = 46.50
    assert (result.status, result.quantity, result.end.value) == (Status.ESTIMATED, D("46.50"), D("1020.00"))


def test_estimate_rounds_half_up_to_the_resolution():
    # 10 / 3 a day x 31 days = 103.333... -> 103.33
    result = jan([], estimate=EstimateRule.average_daily_of_previous(1), history=[PastPeriod(D(3), D(10))])
    assert (result.status, result.quantity, result.end) == (Status.ESTIMATED, D("103.33"), None)
    assert [f.boundary for f in result.findings if isinstance(f, MissingReading)] == ["start", "end"]


def test_estimate_with_too_little_history_is_held():
    # HISTORY has four actual periods (the estimated one does not count)
    result = jan([r(JAN, "1000.00")], estimate=EstimateRule.average_daily_of_previous(5), history=HISTORY)
    assert (result.status, result.quantity) == (Status.HELD, None)
    assert result.findings == (MissingReading("end", FEB, estimated=False), EstimateUnavailable(needed=5, available=4))


def test_end_reading_flagged_estimated_marks_the_result():
    result = jan([r(JAN, "1000.00"), r(FEB, "1050.00", quality=Quality.ESTIMATED)])
    assert (result.status, result.quantity, result.findings) == (
        Status.ESTIMATED, D("50.00"), (EstimatedEndReading(FEB),))


def test_inputs_are_checked():
    with pytest.raises(MeteringError, match="sort them"):
        jan([r(FEB, "2.00"), r(JAN, "1.00")])
    with pytest.raises(MeteringError, match="keep one"):
        jan([r(JAN, "1.00"), r(JAN, "1.00")])
    with pytest.raises(MeteringError, match="must be after"):
        consumption_for_period([], FEB, JAN, WATER, estimate=NONE)
    with pytest.raises(TypeError, match="Decimal"):
        Reading(JAN, 1.5, "A")  # type: ignore[arg-type]


LIMIT_PLUS_STEP = D("100000.00")


@given(st.decimals(min_value=0, max_value=D("99999.99"), places=2),
       st.lists(st.decimals(min_value=0, max_value=D("4.99"), places=2), min_size=60, max_size=60),
       st.integers(min_value=1, max_value=58))
def test_consecutive_periods_add_up_across_rollovers(first, daily, cut):
    # Daily readings over 60 days that may wrap once; any split into two periods sums to the whole.
    values, value = [first], first
    for used in daily:
        value = (value + used) % LIMIT_PLUS_STEP
        values.append(value)
    readings = [r(JAN + timedelta(days=i), str(v)) for i, v in enumerate(values)]
    end, middle = JAN + timedelta(days=60), JAN + timedelta(days=cut)
    whole = consumption_for_period(readings, JAN, end, WATER, estimate=NONE)
    first_part = consumption_for_period(readings, JAN, middle, WATER, estimate=NONE)
    second_part = consumption_for_period(readings, middle, end, WATER, estimate=NONE)
    assert whole.status is first_part.status is second_part.status is Status.OK
    assert whole.quantity == sum(daily) == first_part.quantity + second_part.quantity
