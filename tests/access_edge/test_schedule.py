"""Schedules read in the estate's time zone (Asia/Shanghai, UTC+8) while instants arrive in UTC."""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from gateway.access import schedule_allows
from tests.access_edge.helpers import schedule, utc

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = schedule("office", {d: [("08:00", "18:00")] for d in range(5)})
NIGHT_FRIDAY = schedule("night", {4: [("22:00", "06:00")]})  # Friday night into Saturday morning


def local(*args: int) -> datetime:
    """A Shanghai wall-clock time, converted to the UTC instant a gateway would be handed."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(ZoneInfo("UTC"))


@pytest.mark.parametrize(("at", "expected"), [
    (utc(2025, 6, 2, 0, 0), True),  # Monday 08:00 local: the start is inclusive
    (utc(2025, 6, 1, 23, 59, 59), False),  # Monday 07:59:59 local, though still Sunday in UTC
    (utc(2025, 6, 2, 9, 59, 59), True),  # Monday 17:59:59 local
    (utc(2025, 6, 2, 10, 0), False),  # Monday 18:00 local: the end is exclusive
    (utc(2025, 6, 6, 23, 0), False),  # Saturday 07:00 local, though Friday 23:00 in UTC
    (utc(2025, 6, 6, 1, 0), True),  # Friday 09:00 local
])
def test_office_hours_in_local_time(at, expected):
    assert schedule_allows(OFFICE, at) is expected


@pytest.mark.parametrize(("wall", "expected"), [
    ((2025, 6, 6, 21, 59, 59), False),  # Friday before the start
    ((2025, 6, 6, 22, 0), True),  # Friday 22:00
    ((2025, 6, 6, 23, 59, 59), True),
    ((2025, 6, 7, 0, 0), True),  # Saturday 00:00: past midnight, still Friday's interval
    ((2025, 6, 7, 5, 59, 59), True),
    ((2025, 6, 7, 6, 0), False),  # Saturday 06:00: the end
    ((2025, 6, 7, 23, 0), False),  # Saturday night has no interval of its own
    ((2025, 6, 8, 1, 0), False),  # Sunday 01:00: Saturday has none to carry over
    ((2025, 6, 6, 1, 0), False),  # Friday 01:00: Thursday has none to carry over
])
def test_interval_across_midnight(wall, expected):
    assert schedule_allows(NIGHT_FRIDAY, local(*wall)) is expected


def test_whole_day_interval():
    sundays = schedule("sun", {6: [("00:00", "00:00")]})
    assert schedule_allows(sundays, local(2025, 6, 8, 0, 0))
    assert schedule_allows(sundays, local(2025, 6, 8, 23, 59, 59))
    assert not schedule_allows(sundays, local(2025, 6, 9, 0, 0))
    assert not schedule_allows(sundays, local(2025, 6, 7, 23, 59, 59))


def test_several_intervals_a_day():
    split = schedule("split", {0: [("08:00", "12:00"), ("13:00", "18:00")]})
    assert [schedule_allows(split, local(2025, 6, 2, h, 30)) for h in (7, 8, 11, 12, 13, 17, 18)] == \
        [False, True, True, False, True, True, False]


def test_holidays_replace_the_day_and_keep_the_previous_nights_carry_over():
    national_day = date(2025, 10, 1)  # a Wednesday
    nights = schedule("nights", {d: [("08:00", "18:00"), ("22:00", "02:00")] for d in range(7)},
                      holidays=frozenset({national_day}), holiday_intervals=((time(10), time(14)),))
    assert schedule_allows(nights, local(2025, 10, 1, 1, 0))  # Tuesday night's interval runs on
    assert not schedule_allows(nights, local(2025, 10, 1, 9, 0))  # the holiday's own hours: 10-14
    assert schedule_allows(nights, local(2025, 10, 1, 12, 0))
    assert not schedule_allows(nights, local(2025, 10, 1, 23, 0))  # no night interval on the holiday
    assert not schedule_allows(nights, local(2025, 10, 2, 1, 0))  # ...so nothing carries into Thursday
    assert schedule_allows(nights, local(2025, 10, 2, 9, 0))
    closed = schedule("closed", {2: [("08:00", "18:00")]}, holidays=frozenset({national_day}))
    assert not schedule_allows(closed, local(2025, 10, 1, 12, 0))


def test_the_instants_own_zone_does_not_matter():
    new_york = utc(2025, 6, 2, 1).astimezone(ZoneInfo("America/New_York"))  # Sunday 21:00 there
    assert schedule_allows(OFFICE, new_york)  # Monday 09:00 in Shanghai


def test_schedule_in_another_zone_with_daylight_saving():
    berlin = schedule("berlin", {d: [("08:00", "18:00")] for d in range(7)}, tz="Europe/Berlin")
    assert schedule_allows(berlin, utc(2025, 6, 2, 6, 30))  # 08:30 CEST (UTC+2)
    assert not schedule_allows(berlin, utc(2025, 1, 6, 6, 30))  # 07:30 CET (UTC+1)


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="unknown time zone"):
        schedule("bad", {}, tz="Mars/Olympus")

