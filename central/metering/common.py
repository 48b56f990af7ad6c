"""Shared pieces of the metering services: decimal body types, quality flags, times and periods, the meter spec."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.metering.consumption import MeterSpec, Quality
from central.metering.errors import Invalid
from central.registry.common import aware, month_bounds
from central.registry.models import Estate

TOLERANCE = timedelta(hours=24)
"""A boundary's reading is the latest in the 24 hours up to it (consumption.py)."""
FIRST_YEAR, LAST_YEAR = 1971, 9998
"""Periods stay clear of the calendar's ends: earlier periods and the readings before a boundary are looked up."""
MAX_DIGITS = 15
"""SQLite hands Numeric to the driver as a float, which keeps 15 significant digits exactly, not Numeric's 16."""


def too_many_digits(value: Decimal) -> bool:
    """More than MAX_DIGITS digits once written to 0.001 (checked before quantizing, which would overflow)."""
    return value.adjusted() >= MAX_DIGITS - 3


def in_calendar(value: datetime) -> datetime:
    """`value` (aware) as it is when it lies in the years FIRST_YEAR to LAST_YEAR in UTC, else ValueError."""
    try:
        year = value.astimezone(timezone.utc).year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"expected a time in the years {FIRST_YEAR} to {LAST_YEAR}, got {value.isoformat()}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(in_calendar)]
"""A body's time: with a UTC offset, and within the calendar metering looks around in."""


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(f"send register values as strings, e.g. \"{value}\": a JSON number may not be exact")
    return value


RegisterValue = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, max_digits=MAX_DIGITS, decimal_places=3)]
PositiveValue = Annotated[Decimal, BeforeValidator(_no_float),
                          Field(gt=0, max_digits=MAX_DIGITS, decimal_places=3)]

MANUAL, ESTIMATED, INVALID = "manual", "estimated", "invalid"
FIRST, FINAL = "first", "final"
NEGATIVE, SPIKE, OUT_OF_RANGE, MISMATCH = "negative", "spike", "out_of_range", "mismatch"
FLAGS = (MANUAL, ESTIMATED, INVALID, FIRST, FINAL, NEGATIVE, SPIKE, OUT_OF_RANGE, MISMATCH)
"""Only manual, estimated and invalid change how a reading counts; the rest say what was noticed on entry."""
_QUALITY = {MANUAL: Quality.MANUAL, ESTIMATED: Quality.ESTIMATED, INVALID: Quality.INVALID}


def quality(flags: list[str]) -> Quality:
    """The pure rules' Quality of a stored reading's flags."""
    result = Quality.NONE
    for flag in flags:
        result |= _QUALITY.get(flag, Quality.NONE)
    return result


def utc(value: datetime) -> datetime:
    """A stored or given time as aware UTC (SQLite keeps no offset; everything stored is UTC)."""
    return aware(value).astimezone(timezone.utc)


async def estate_zone(conn: AsyncConnection, estate: str) -> ZoneInfo:
    """The estate's local time zone: months and nights are the estate's, not UTC's."""
    return ZoneInfo(await conn.scalar(select(Estate.timezone).where(Estate.code == estate)) or "Asia/Shanghai")


def resolution_of(point: Any) -> Decimal:
    """The point's resolution without the column's trailing zeros (0.010 is stored for 0.01)."""
    return Decimal(point.resolution).normalize()


def spec_of(point: Any) -> MeterSpec:
    """The pure rules' meter spec of a meter-point row; the limit is written with the point's resolution."""
    return MeterSpec(point.kind, Decimal(point.register_limit).quantize(resolution_of(point)),
                     Decimal(point.max_per_day))


def check_value(point: Any, value: Decimal, field: str = "value") -> None:
    """A register cannot show more than its limit."""
    if value > point.register_limit:
        raise Invalid(field, f"{value} is above the register limit {spec_of(point).rollover_limit} of "
                             f"{point.name!r}")


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; `month` (YYYY-MM, estate time) when it is a calendar month."""

    start: datetime
    end: datetime
    month: str | None = None

    def before(self, zone: ZoneInfo) -> Period:
        """The period of the same kind just before this one: the previous month, or as long again."""
        if self.month is None:
            return Period(self.start - (self.end - self.start), self.start)
        year, month = int(self.month[:4]), int(self.month[5:])
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        return month_period(f"{year:04d}-{month:02d}", zone)

    def as_dict(self) -> dict[str, Any]:
        """The period as JSON-ready data."""
        return {"start": self.start, "end": self.end, "month": self.month}


def month_period(month: str, zone: ZoneInfo) -> Period:
    """A calendar month from local midnight of its first day to local midnight of the next month's."""
    year, number = month_bounds(month)
    after = date(year + number // 12, number % 12 + 1, 1)
    return Period(_midnight(date(year, number, 1), zone), _midnight(after, zone), f"{year:04d}-{number:02d}")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), zone).astimezone(timezone.utc)


def period_of(month: str | None, start: datetime | None, end: datetime | None, zone: ZoneInfo) -> Period:
    """A month, or an explicit [start, end); exactly one of the two forms."""
    if month is not None:
        if start is not None or end is not None:
            raise Invalid("month", "give either month or since and until, not both")
        if month_bounds(month)[0] > LAST_YEAR:
            raise Invalid("month", f"a period lies in the years {FIRST_YEAR} to {LAST_YEAR}, got {month!r}")
        return month_period(month, zone)
    if start is None or end is None:
        raise Invalid("month", "give month=YYYY-MM, or both since and until")
    if end <= start:
        raise Invalid("until", f"{end.isoformat()} is not after since {start.isoformat()}")
    if end - start < TOLERANCE:
        raise Invalid("until", "a period lasts at least 24 hours: each boundary's reading is the latest in the 24 "
                               "hours before it, so a shorter period could start and end on one reading")
    if end - start > timedelta(days=400):
        raise Invalid("until", "a period is at most 400 days")
    if utc(start).year < FIRST_YEAR or utc(end).year > LAST_YEAR:
        raise Invalid("since", f"a period lies in the years {FIRST_YEAR} to {LAST_YEAR}")
    return Period(utc(start), utc(end))
