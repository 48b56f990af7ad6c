"""Leak detection: flow that never stops through the small hours of each of the last N nights."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal as D

import pytest

from central.metering.consumption import MeteringError, Quality, Reading
from central.metering.leak import LeakCheck, detect_leak

START = datetime(2024, 6, 1)
HALF_HOUR = timedelta(minutes=30)


def series(until: datetime, used: Callable[[datetime], D], every: timedelta = HALF_HOUR,
           skip: Callable[[datetime], bool] = lambda at: False) -> list[Reading]:
    """Readings every `every` from START; `used(at)` is the use in the interval ending at `at`."""
    readings, value, at = [], D("100.00"), START
    while at <= until:
        if not skip(at):
            readings.append(Reading(at, value, "W1"))
        at += every
        value += used(at)
    return readings


def leaking(at: datetime) -> D:
    return D("0.01")  # 0.02 m³ an hour, day and night


def household(at: datetime) -> D:
    return D(0) if 0 <= at.hour < 6 else D("0.05")  # nothing in the small hours


CHECK = dict(min_flow_per_hour=D("0.01"), nights=3)


def test_continuous_flow_three_nights_raises_an_alert():
    result = detect_leak(series(datetime(2024, 6, 4, 12), leaking), **CHECK)
    nights = (date(2024, 6, 2), date(2024, 6, 3), date(2024, 6, 4))
    assert result == LeakCheck(nights, nights, True)


def test_quiet_nights_do_not_match():
    result = detect_leak(series(datetime(2024, 6, 4, 12), household), **CHECK)
    assert (result.nights_matched, result.alert) == ((), False)


def test_one_night_where_flow_stops_breaks_the_streak():
    def stops_once(at: datetime) -> D:
        return D(0) if at == datetime(2024, 6, 3, 3, 30) else D("0.01")

    result = detect_leak(series(datetime(2024, 6, 4, 12), stops_once), **CHECK)
    assert result.nights_matched == (date(2024, 6, 2), date(2024, 6, 4)) and not result.alert


def test_flow_below_the_threshold_does_not_match():
    result = detect_leak(series(datetime(2024, 6, 4, 12), leaking), min_flow_per_hour=D("0.03"), nights=3)
    assert not result.alert and result.nights_matched == ()


def test_the_latest_night_is_the_last_whose_window_has_ended():
    # Last reading 6 June 03:00: that night is still under way, so 5 June is the latest
    result = detect_leak(series(datetime(2024, 6, 6, 3), leaking), **CHECK)
    assert result.nights_checked == (date(2024, 6, 3), date(2024, 6, 4), date(2024, 6, 5)) and result.alert


def test_too_few_nights_of_data_is_no_alert():
    result = detect_leak(series(datetime(2024, 6, 2, 6), leaking), **CHECK)
    assert result.nights_checked == (date(2024, 5, 31), date(2024, 6, 1), date(2024, 6, 2))
    assert result.nights_matched == (date(2024, 6, 1), date(2024, 6, 2)) and not result.alert


def test_a_gap_in_the_readings_is_not_proof_of_flow():
    def gap(at: datetime) -> bool:
        return datetime(2024, 6, 3, 2) < at < datetime(2024, 6, 3, 3, 30)

    result = detect_leak(series(datetime(2024, 6, 4, 12), leaking, skip=gap), **CHECK)
    assert date(2024, 6, 3) not in result.nights_matched and not result.alert


def test_window_across_midnight():
    result = detect_leak(series(datetime(2024, 6, 4, 12), leaking), night_start=time(23, 0), night_end=time(5, 0),
                         **CHECK)
    assert result.nights_checked == (date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 3)) and result.alert


def test_hourly_readings_and_another_window():
    result = detect_leak(series(datetime(2024, 6, 10, 12), leaking, every=timedelta(hours=1)),
                         min_flow_per_hour=D("0.01"), nights=7, night_start=time(0, 0), night_end=time(4, 0))
    assert result.alert and len(result.nights_matched) == 7


def test_invalid_readings_are_ignored_and_no_readings_is_no_alert():
    readings = [Reading(r.at, r.value, r.serial, Quality.INVALID) for r in series(datetime(2024, 6, 4), leaking)]
    assert detect_leak(readings, **CHECK) == LeakCheck((), (), False)
    assert detect_leak([], **CHECK) == LeakCheck((), (), False)


def test_meter_change_in_a_window_does_not_match():
    readings = [Reading(r.at, r.value, "W2" if r.at >= datetime(2024, 6, 4, 3) else "W1")
                for r in series(datetime(2024, 6, 4, 12), leaking)]
    assert date(2024, 6, 4) not in detect_leak(readings, **CHECK).nights_matched


@pytest.mark.parametrize("kwargs", [
    dict(min_flow_per_hour=D(0), nights=3), dict(min_flow_per_hour=D("0.01"), nights=0),
    dict(min_flow_per_hour=D("0.01"), nights=3, night_start=time(1), night_end=time(1)),
])
def test_bad_parameters(kwargs):
    with pytest.raises(MeteringError):
        detect_leak([], **kwargs)
