"""The leak rule in an estate whose clocks change: nights are local, spans and order are real (UTC) ones."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from central.metering.consumption import Reading
from central.metering.leak import detect_leak

NEW_YORK = ZoneInfo("America/New_York")


def flowing(first: datetime, count: int) -> list[Reading]:
    """Readings every 30 real minutes from `first` (UTC), 10 litres apart, on the estate's clock."""
    return [Reading((first + timedelta(minutes=30 * i)).astimezone(NEW_YORK), Decimal("100") + Decimal("0.010") * i,
                    "W") for i in range(count)]


def test_the_spring_forward_night_still_shows_continuous_flow():
    readings = []
    for night in (6, 7, 8):  # clocks jump from 02:00 to 03:00 on 8 March 2026
        start = datetime(2026, 3, night, 0, 30, tzinfo=NEW_YORK).astimezone(timezone.utc)
        readings += flowing(start, 11)
    readings = [Reading(r.at, Decimal("100") + Decimal("0.010") * i, "W") for i, r in enumerate(readings)]
    result = detect_leak(readings, min_flow_per_hour=Decimal("0.010"), nights=3)
    assert result.nights_matched == (date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 8)) and result.alert


def test_the_fall_back_night_is_in_order():
    # 1 November 2026: 01:00-02:00 happens twice; the readings are in order in real time.
    readings = flowing(datetime(2026, 11, 1, 4, 0, tzinfo=timezone.utc), 14)
    result = detect_leak(readings, min_flow_per_hour=Decimal("0.010"), nights=1)
    assert result.nights_checked == (date(2026, 11, 1),) and result.alert
