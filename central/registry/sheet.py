"""The monthly attendance sheet (考勤表): per staff member per day, first in, last out, hours worked, absences.

Days are the estate's local days. Taps are paired in time order across midnight, so a night shift from
20:00 to 08:00 is one shift of 12 hours, counted on the day it began. An 'in' that no 'out' follows within
16 hours, or an 'out' with no 'in' before it, makes the day 'incomplete' (hours are only counted for pairs).
A day with no taps is 'absent' once it has passed ('pending' until then): without a rota, a rest day
looks the same. Days before the staff member joined are 'not_on_staff'.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.registry.attendance import MAX_SHIFT, list_records
from central.registry.common import aware, load, require_estate
from central.registry.errors import Invalid, NotFound
from central.registry.models import AttendanceRecord, Staff
from estatelink import wire

HOUR = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Shift:
    start: datetime | None
    end: datetime | None

    @property
    def hours(self) -> Decimal:
        if self.start is None or self.end is None:
            return Decimal("0.00")
        seconds = Decimal(int((self.end - self.start).total_seconds()))
        return (seconds / 3600).quantize(HOUR, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class _Day:
    first_in: datetime | None = None
    last_out: datetime | None = None
    hours: Decimal = Decimal("0.00")
    anomalies: list[str] = field(default_factory=list)
    taps: int = 0


def pair_taps(taps: list[tuple[datetime, str]]) -> list[Shift]:
    """Pair time-ordered (at, 'in'|'out') taps into shifts; unpaired taps become half-open shifts."""
    shifts: list[Shift] = []
    opened: datetime | None = None
    for at, kind in taps:
        if kind == "in":
            if opened is not None:
                shifts.append(Shift(opened, None))
            opened = at
        elif opened is not None and at - opened <= MAX_SHIFT:
            shifts.append(Shift(opened, at))
            opened = None
        else:
            if opened is not None:
                shifts.append(Shift(opened, None))
                opened = None
            shifts.append(Shift(None, at))
    if opened is not None:
        shifts.append(Shift(opened, None))
    return shifts


def _days(shifts: list[Shift], zone: ZoneInfo, now: datetime) -> dict[date, _Day]:
    days: dict[date, _Day] = {}
    for shift in shifts:
        anchor = shift.start or shift.end
        day = days.setdefault(anchor.astimezone(zone).date(), _Day())
        day.taps += 1
        if shift.start is not None and (day.first_in is None or shift.start < day.first_in):
            day.first_in = shift.start
        if shift.end is not None and (day.last_out is None or shift.end > day.last_out):
            day.last_out = shift.end
        day.hours += shift.hours
        local = anchor.astimezone(zone).strftime("%H:%M")
        if shift.start is None:
            day.anomalies.append(f"out at {local} without an in")
        elif shift.end is None and now - shift.start > MAX_SHIFT:
            day.anomalies.append(f"in at {local} without an out")
    return days


def _row(when: date, day: _Day | None, today: date, joined: date, zone: ZoneInfo) -> dict[str, Any]:
    if day is not None:
        status = "incomplete" if day.anomalies else "present"
    elif when >= today:
        status = "pending"
    elif when < joined:
        status = "not_on_staff"
    else:
        status = "absent"
    local = (lambda t: t.astimezone(zone) if t is not None else None)  # noqa: E731
    return {"date": when, "status": status, "first_in": local(day and day.first_in),
            "last_out": local(day and day.last_out), "worked_hours": day.hours if day else Decimal("0.00"),
            "anomalies": day.anomalies if day else []}


def _month(year: int, month: int, zone: ZoneInfo) -> tuple[date, date, datetime, datetime]:
    """First and last day of the month, and its bounds in UTC [start, end) by the estate's clock."""
    if not 1970 <= year <= 9998 or not 1 <= month <= 12:
        raise Invalid("month", f"expected a month as YYYY-MM, got {year:04d}-{month:02d}")
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    start = datetime.combine(first, time(), zone).astimezone(timezone.utc)
    return first, last, start, datetime.combine(last + timedelta(days=1), time(), zone).astimezone(timezone.utc)


async def month_records(conn: AsyncConnection, staff_id: int, year: int, month: int) -> list[dict[str, Any]]:
    """A staff member's taps and manual entries in a month of the estate's days, oldest first."""
    person = await load(conn, Staff, staff_id, "staff member")
    _, _, start, end = _month(year, month, ZoneInfo((await require_estate(conn, person.estate)).timezone))
    return await list_records(conn, staff_id, start, end)


async def monthly_sheet(conn: AsyncConnection, estate: str, year: int, month: int, *, staff_id: int | None = None,
                        now: datetime | None = None) -> dict[str, Any]:
    """The attendance sheet of an estate (or of one staff member of it) for a month."""
    zone = ZoneInfo((await require_estate(conn, estate)).timezone)
    now = now or wire.utc_now()
    today = now.astimezone(zone).date()
    first, last, start, end = _month(year, month, zone)

    taps_in_month = select(AttendanceRecord.staff_id).where(
        AttendanceRecord.estate == estate, AttendanceRecord.at >= start, AttendanceRecord.at < end)
    stmt = select(Staff).where(Staff.estate == estate, or_(Staff.active.is_(True), Staff.id.in_(taps_in_month)))
    if staff_id is not None:
        stmt = select(Staff).where(Staff.estate == estate, Staff.id == staff_id)
    people = (await conn.execute(stmt.order_by(Staff.id))).all()
    if staff_id is not None and not people:
        raise NotFound(f"estate {estate!r} has no staff member with id {staff_id}")

    records = select(AttendanceRecord.staff_id, AttendanceRecord.at, AttendanceRecord.kind).where(
        AttendanceRecord.estate == estate, AttendanceRecord.at >= start - MAX_SHIFT,
        AttendanceRecord.at < end + MAX_SHIFT)
    if staff_id is not None:
        records = records.where(AttendanceRecord.staff_id == staff_id)
    taps: dict[int, list[tuple[datetime, str]]] = {}
    for row in (await conn.execute(records.order_by(AttendanceRecord.staff_id, AttendanceRecord.at,
                                                    AttendanceRecord.id))).all():
        taps.setdefault(row.staff_id, []).append((aware(row.at), row.kind))

    sheet = []
    for person in people:
        days = _days(pair_taps(taps.get(person.id, [])), zone, now)
        joined = person.joined_on or aware(person.created_at).astimezone(zone).date()
        rows = [_row(first + timedelta(days=i), days.get(first + timedelta(days=i)), today, joined, zone)
                for i in range(last.day)]
        sheet.append({
            "staff_id": person.id, "name": person.name, "position": person.position, "shift": person.shift,
            "active": person.active, "days": rows,
            "days_present": sum(r["status"] in ("present", "incomplete") for r in rows),
            "days_incomplete": sum(r["status"] == "incomplete" for r in rows),
            "absences": [r["date"] for r in rows if r["status"] == "absent"],
            "worked_hours": sum((r["worked_hours"] for r in rows), Decimal("0.00")),
        })
    return {"estate": estate, "month": f"{year:04d}-{month:02d}", "timezone": zone.key, "staff": sheet}
