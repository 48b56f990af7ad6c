"""Attendance: taps at attendance points from gateway events, entries by hand, and the monthly sheet."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from central.registry import attendance, estates, sheet, staff
from central.registry.errors import Conflict, Invalid, NotFound
from estatelink import wire
from tests.registry.conftest import OFFICE

Z = timezone.utc
PLUS8 = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 6, 4, 0, tzinfo=Z)  # 12:00 on 6 November in the estate
LIU, MA = "AAAA000001", "AAAA000002"


def tap(seq: int, card: str, at: datetime, device: str = "staff-door", kind: str = "card.read") -> dict:
    return {"estate": "demo", "gateway": "gate-1", "seq": seq, "device": device, "kind": kind,
            "data": {"card": card, "format": "em4100"}, "received_at": at, "device_time": None}


@pytest.fixture
async def crew(engine):
    async with engine.begin() as conn:
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="demo", name="Demo"))
        people = {}
        for name, shift, card in (("Liu Yang", "day", LIU), ("Ma Li", "night", MA), ("Old Timer", "day", None)):
            made = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(
                name=name, position="guard", shift=shift, joined_on=date(2026, 11, 1), active=card is not None))
            if card:
                await staff.add_card(conn, OFFICE, made["id"], staff.CardCreate(card=card.lower()))
            people[name.split()[0].lower()] = made["id"]
        for device, direction in (("staff-door", "toggle"), ("in-reader", "in"), ("out-reader", "out")):
            await attendance.create_point(conn, OFFICE, "demo", attendance.PointCreate(
                gateway="gate-1", device=device, direction=direction))
    return people


async def feed(engine, *events: dict) -> list[dict | None]:
    async with engine.begin() as conn:
        return [await attendance.attendance_from_event(conn, event) for event in events]


async def test_taps_become_clock_ins_and_outs(engine, crew):
    first, double, out = await feed(engine, tap(1, LIU, datetime(2026, 11, 2, 0, 55, tzinfo=Z)),
                                    tap(2, LIU, datetime(2026, 11, 2, 0, 55, 30, tzinfo=Z)),
                                    tap(3, LIU, datetime(2026, 11, 2, 9, 30, tzinfo=Z)))
    assert (first["kind"], first["source"], first["staff_id"], first["event_seq"]) == ("in", "reader", crew["liu"], 1)
    assert double is None, "a second tap within a minute is a repeat"
    assert out["kind"] == "out" and out["at"] == datetime(2026, 11, 2, 9, 30, tzinfo=Z)
    again = await feed(engine, tap(3, LIU, datetime(2026, 11, 2, 9, 30, tzinfo=Z)))
    assert again == [out], "a redelivered event records nothing new"
    fixed = await feed(engine, tap(4, LIU, datetime(2026, 11, 3, 1, 0, tzinfo=Z), device="out-reader"),
                       tap(5, LIU, datetime(2026, 11, 3, 1, 5, tzinfo=Z), device="in-reader"))
    assert [r["kind"] for r in fixed] == ["out", "in"], "fixed-direction readers ignore the alternation"
    ignored = await feed(engine, tap(6, LIU, NOW, device="main-gate"), tap(7, "FFFF000000", NOW),
                         tap(8, LIU, NOW, kind="door.forced"), {**tap(9, "", NOW), "data": {}},
                         {**tap(10, MA, NOW), "estate": "other"})
    assert ignored == [None] * 5


async def test_inactive_staff_do_not_clock_in(engine, crew):
    async with engine.begin() as conn:
        await staff.update_staff(conn, OFFICE, crew["ma"], staff.StaffUpdate(active=False))
    assert await feed(engine, tap(1, MA, NOW)) == [None]


async def test_manual_entries(engine, crew):
    async with engine.begin() as conn:
        entry = await attendance.add_manual(conn, OFFICE, crew["liu"], attendance.ManualEntry(
            at="2026-11-05T09:00:00+08:00", kind="in", note="forgot card"))
        assert entry["source"] == "manual" and entry["at"] == datetime(2026, 11, 5, 1, 0, tzinfo=Z)
        with pytest.raises(Invalid, match="at: .* is in the future"):
            await attendance.add_manual(conn, OFFICE, crew["liu"], attendance.ManualEntry(
                at=wire.utc_now() + timedelta(hours=1), kind="out"))
        await attendance.delete_manual(conn, OFFICE, entry["id"])
    (reader,) = await feed(engine, tap(1, LIU, NOW))
    async with engine.begin() as conn:
        with pytest.raises(Conflict, match="came from a reader"):
            await attendance.delete_manual(conn, OFFICE, reader["id"])
    with pytest.raises(ValidationError, match="timezone"):
        attendance.ManualEntry(at="2026-11-05T09:00:00", kind="in")


async def test_attendance_points(engine, crew):
    async with engine.begin() as conn:
        points = await attendance.list_points(conn, "demo")
        assert [(p["device"], p["direction"]) for p in points] == [
            ("staff-door", "toggle"), ("in-reader", "in"), ("out-reader", "out")]
        with pytest.raises(Conflict, match="already an attendance point"):
            await attendance.create_point(conn, OFFICE, "demo", attendance.PointCreate(gateway="gate-1",
                                                                                       device="in-reader"))
        changed = await attendance.update_point(conn, OFFICE, points[0]["id"], attendance.PointUpdate(direction="in"))
        assert changed["direction"] == "in"
        await attendance.delete_point(conn, OFFICE, points[0]["id"])
        assert len(await attendance.list_points(conn, "demo")) == 2
    with pytest.raises(ValidationError, match="gateway"):
        attendance.PointCreate(gateway="Gate 1", device="x")


async def test_monthly_sheet(engine, crew):
    at = lambda d, h, m=0: datetime(2026, 11, d, h, m, tzinfo=PLUS8)  # noqa: E731 - estate local time
    await feed(engine,
               tap(1, MA, datetime(2026, 10, 31, 20, 0, tzinfo=PLUS8)), tap(2, MA, at(1, 8)),   # October's night
               tap(3, LIU, at(2, 8, 55)), tap(4, LIU, at(2, 17, 30)),                          # 8 h 35 min
               tap(5, MA, at(2, 20)), tap(6, MA, at(3, 8)),                                    # a 12 h night
               tap(7, LIU, at(3, 9), device="in-reader"), tap(8, LIU, at(3, 18), device="out-reader"),
               tap(9, LIU, at(4, 9), device="in-reader"))                                      # never clocked out
    async with engine.begin() as conn:
        for hour, kind in ((9, "in"), (17, "out")):
            await attendance.add_manual(conn, OFFICE, crew["liu"], attendance.ManualEntry(at=at(5, hour), kind=kind))
        result = await sheet.monthly_sheet(conn, "demo", 2026, 11, now=NOW)
        alone = await sheet.monthly_sheet(conn, "demo", 2026, 11, staff_id=crew["old"], now=NOW)
        with pytest.raises(NotFound):
            await sheet.monthly_sheet(conn, "demo", 2026, 11, staff_id=9999, now=NOW)
    assert result["timezone"] == "Asia/Shanghai" and result["month"] == "2026-11"
    assert [s["name"] for s in result["staff"]] == ["Liu Yang", "Ma Li"], "inactive staff without taps are left out"
    liu, ma = result["staff"]
    days = {d["date"].day: d for d in liu["days"]}
    assert len(liu["days"]) == 30
    assert (days[2]["status"], days[2]["first_in"], days[2]["last_out"], days[2]["worked_hours"]) == (
        "present", at(2, 8, 55), at(2, 17, 30), Decimal("8.58"))
    assert days[2]["first_in"].utcoffset() == timedelta(hours=8), "times are shown in the estate's zone"
    assert days[3]["worked_hours"] == Decimal("9.00") and days[5]["worked_hours"] == Decimal("8.00")
    assert days[4]["status"] == "incomplete" and days[4]["anomalies"] == ["in at 09:00 without an out"]
    assert (days[1]["status"], days[6]["status"], days[30]["status"]) == ("absent", "pending", "pending")
    assert (liu["days_present"], liu["days_incomplete"], liu["worked_hours"]) == (4, 1, Decimal("25.58"))
    assert liu["absences"] == [date(2026, 11, 1)]
    ma_days = {d["date"].day: d for d in ma["days"]}
    assert ma_days[2]["worked_hours"] == Decimal("12.00") and ma_days[2]["last_out"] == at(3, 8)
    assert ma_days[1]["status"] == "absent", "the 08:00 out on the 1st closes October's night shift"
    assert ma["absences"] == [date(2026, 11, d) for d in (1, 3, 4, 5)]
    assert alone["staff"][0]["days"][0]["status"] == "absent"


def test_pairing_across_midnight_and_forgotten_taps():
    t = lambda h: datetime(2026, 11, 2, tzinfo=Z) + timedelta(hours=h)  # noqa: E731
    shifts = sheet.pair_taps([(t(0), "out"), (t(1), "in"), (t(3), "in"), (t(10), "out"), (t(40), "in"),
                              (t(60), "out")])
    assert [(s.start, s.end) for s in shifts] == [(None, t(0)), (t(1), None), (t(3), t(10)), (t(40), None),
                                                  (None, t(60))]
    assert shifts[2].hours == Decimal("7.00")


async def test_sheet_rejects_bad_months(engine, crew):
    async with engine.connect() as conn:
        with pytest.raises(Invalid, match="month"):
            await sheet.monthly_sheet(conn, "demo", 2026, 13)
        with pytest.raises(NotFound, match="no estate 'nowhere'"):
            await sheet.monthly_sheet(conn, "nowhere", 2026, 11)
