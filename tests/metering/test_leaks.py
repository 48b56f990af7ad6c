"""Leak alerts: water that never stops through the estate's small hours, night after night."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from central.auth.models import AuditEntry
from central.metering import alerts
from tests.metering.conftest import OFFICE, fit, local, make_point, read

NIGHTS = (10, 11, 12)
MORNING = local(2026, 10, 13, 8)


async def _nights(conn, point, flowing: set[int], hour: int = 0) -> None:
    """Readings every 30 minutes from 00:30 to 05:30 estate time (or `hour` later) on 10-12 October; 10 litres
    each on flowing nights."""
    value = Decimal("100")
    for day in NIGHTS:
        start = local(2026, 10, day, hour, 30)
        for step in range(11):
            if step and day in flowing:
                value += Decimal("0.010")
            await read(conn, point, start + timedelta(minutes=30 * step), str(value))


async def _water(conn, demo, name: str = "3-1201 water", unit: str = "3-1201"):
    point = await make_point(conn, demo[unit], name, limit="99999.999", leak_min_flow_per_hour="0.010")
    await fit(conn, point, f"W-{unit}", local(2026, 10, 1))
    return point


async def test_three_nights_of_flow_raise_one_alert(engine, demo):
    async with engine.begin() as conn:
        leaking = await _water(conn, demo)
        quiet = await _water(conn, demo, "3-1202 water", "3-1202")
        await _nights(conn, leaking, {10, 11, 12})
        await _nights(conn, quiet, {10, 12})  # the night of the 11th shows no flow: no alert

        results = await alerts.check_leaks(conn, OFFICE, "demo", MORNING)
        by_name = {r["name"]: r for r in results}
        raised = by_name["3-1201 water"]
        assert raised["raised"] is True and raised["nights_matched"] == [date(2026, 10, d) for d in NIGHTS]
        assert raised["alert"]["status"] == "open" and raised["alert"]["nights"] == [
            "2026-10-10", "2026-10-11", "2026-10-12"]
        assert raised["alert"]["min_flow_per_hour"] == Decimal("0.010")
        calm = by_name["3-1202 water"]
        assert calm["alert"] is None and calm["nights_matched"] == [date(2026, 10, 10), date(2026, 10, 12)]

        again = await alerts.check_leaks(conn, OFFICE, "demo", MORNING)
        assert again[0]["raised"] is False and again[0]["alert"]["id"] == raised["alert"]["id"]
        assert [a["id"] for a in await alerts.list_alerts(conn, "demo")] == [raised["alert"]["id"]]

        closed = await alerts.update_alert(conn, OFFICE, raised["alert"]["id"], alerts.AlertUpdate(
            status="closed", note="running toilet in 3-1201"))
        assert closed["status"] == "closed" and closed["closed_by"] == "office-zhao"
        assert await alerts.list_alerts(conn, "demo", status="open") == []
        actions = (await conn.execute(select(AuditEntry.action).where(AuditEntry.entity == "leak_alert")
                                      .order_by(AuditEntry.id))).scalars().all()
        assert actions == ["leak_alert.create", "leak_alert.update"]


async def test_fewer_nights_than_the_threshold_raise_nothing(engine, demo):
    async with engine.begin() as conn:
        point = await _water(conn, demo)
        await _nights(conn, point, {11, 12})
        (result,) = await alerts.check_leaks(conn, OFFICE, "demo", MORNING)
        assert result["nights_checked"] == [date(2026, 10, d) for d in NIGHTS] and result["alert"] is None


async def test_nights_are_the_estate_s_not_utc(engine, demo):
    async with engine.begin() as conn:
        point = await _water(conn, demo)
        await _nights(conn, point, {10, 11, 12}, hour=8)  # 00:30-05:30 UTC: the estate's busy morning
        (result,) = await alerts.check_leaks(conn, OFFICE, "demo", local(2026, 10, 13, 16))
        assert result["nights_matched"] == [] and result["alert"] is None


async def test_points_without_a_threshold_are_not_checked(engine, demo):
    async with engine.begin() as conn:
        await make_point(conn, demo["3-1201"], "no threshold")
        await make_point(conn, demo["3-1202"], "power", kind="electricity")
        assert await alerts.check_leaks(conn, OFFICE, "demo", MORNING) == []


async def test_a_closed_alert_is_not_raised_again_on_the_same_nights(engine, demo):
    async with engine.begin() as conn:
        point = await _water(conn, demo)
        await _nights(conn, point, {10, 11, 12})
        (first,) = await alerts.check_leaks(conn, OFFICE, "demo", MORNING)
        await alerts.update_alert(conn, OFFICE, first["alert"]["id"], alerts.AlertUpdate(
            status="closed", note="running toilet in 3-1201, fixed"))

        (later,) = await alerts.check_leaks(conn, OFFICE, "demo", MORNING + timedelta(hours=2))
        assert later["raised"] is False
        assert [a["status"] for a in await alerts.list_alerts(conn, "demo")] == ["closed"]

        value = Decimal("100.300")
        for step in range(11):  # still running on the night of the 13th: the alert comes back
            await read(conn, point, local(2026, 10, 13, 0, 30) + timedelta(minutes=30 * step),
                       str(value + Decimal("0.010") * step))
        (again,) = await alerts.check_leaks(conn, OFFICE, "demo", local(2026, 10, 14, 8))
        assert again["raised"] is True and again["alert"]["nights"] == ["2026-10-11", "2026-10-12", "2026-10-13"]
