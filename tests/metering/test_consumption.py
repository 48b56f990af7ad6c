"""Consumption of a point over estate months: replacement, rollover, spikes held, missing readings and estimates."""
from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from central.metering import meters, points, readings, service
from central.metering.common import month_period, period_of
from central.metering.errors import Conflict, Invalid
from tests.metering.conftest import OFFICE, fit, local, make_point, read

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEPTEMBER = month_period("2026-09", SHANGHAI)


def kinds(result: dict) -> list[str]:
    return [f["type"] for f in result["findings"]]


def test_a_period_is_a_month_or_at_least_a_day():
    assert period_of("2026-09", None, None, SHANGHAI) == SEPTEMBER
    with pytest.raises(Invalid, match="at least 24 hours"):
        period_of(None, local(2026, 9, 1, 9), local(2026, 9, 1, 18), SHANGHAI)
    with pytest.raises(Invalid, match="either month or since and until"):
        period_of("2026-09", local(2026, 9, 1), None, SHANGHAI)


def test_months_are_the_estate_s():
    assert SEPTEMBER.start == local(2026, 9, 1) and SEPTEMBER.end == local(2026, 10, 1)
    assert SEPTEMBER.before(SHANGHAI) == month_period("2026-08", SHANGHAI)
    assert month_period("2026-01", SHANGHAI).before(SHANGHAI).month == "2025-12"


async def test_consumption_across_a_replacement(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 8, 20), "100.00")
        await read(conn, point, local(2026, 9, 1), "110.00")
        await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
            at=local(2026, 9, 15, 12), old_final="125.50", new=meters.NewMeter(serial="W-002", first_reading="0.00")))
        await read(conn, point, local(2026, 9, 30, 20), "14.50")

        result = await service.consumption(conn, point, SEPTEMBER)
        assert result["status"] == "ok" and result["quantity"] == Decimal("30.00") and result["unit"] == "m³"
        assert kinds(result) == ["meter_replaced"]
        assert result["start"]["serial"] == "W-001" and result["end"]["serial"] == "W-002"
        replaced = result["findings"][0]
        assert (replaced["old_final"], replaced["new_first"]) == (Decimal("125.50"), Decimal("0.00"))

        # The month after starts where September ended: nothing counted twice, nothing lost.
        await read(conn, point, local(2026, 11, 1), "40.00")
        october = await service.consumption(conn, point, month_period("2026-10", SHANGHAI))
        assert october["status"] == "ok" and october["quantity"] == Decimal("25.50")

        # A period that starts on the replacement instant begins from the new meter's first reading.
        since = await service.consumption(conn, point, SEPTEMBER.__class__(local(2026, 9, 15, 12),
                                                                            local(2026, 10, 1)))
        assert since["quantity"] == Decimal("14.50") and since["start"]["serial"] == "W-002"


async def test_rollover_is_counted_through_the_limit(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 power", kind="electricity", limit="9999.99",
                                 max_per_day="10")
        await fit(conn, point, "E-001", local(2026, 8, 1), "9900.00")
        await read(conn, point, local(2026, 8, 31, 23), "9990.00")
        wrapped = await read(conn, point, local(2026, 9, 30, 22), "140.00")
        assert wrapped["flags"] == ["manual"]  # a plausible rollover is no finding against the reading
        result = await service.consumption(conn, point, SEPTEMBER)
        assert result["status"] == "ok" and result["quantity"] == Decimal("150.00") and result["unit"] == "kWh"
        assert kinds(result) == ["rollover"]


async def test_a_spike_is_flagged_and_held_until_the_reading_is_invalidated(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water", max_per_day="5")
        await fit(conn, point, "W-001", local(2026, 8, 1), "90")
        await read(conn, point, local(2026, 9, 1), "100")
        spike = await read(conn, point, local(2026, 9, 15), "5000")
        after = await read(conn, point, local(2026, 10, 1), "160")
        assert spike["flags"] == ["manual", "spike"] and after["flags"] == ["manual", "negative"]

        held = await service.consumption(conn, point, SEPTEMBER)
        assert held["status"] == "held" and held["quantity"] is None
        assert "negative_step" in kinds(held) and held["reasons"]

        await readings.update_reading(conn, OFFICE, spike["id"], readings.ReadingUpdate(invalid=True))
        released = await service.consumption(conn, point, SEPTEMBER)
        assert released["status"] == "ok" and released["quantity"] == Decimal("60")
        assert kinds(released) == ["ignored_reading"]


async def test_an_implausible_month_is_held(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water", max_per_day="5")
        await fit(conn, point, "W-001", local(2026, 8, 1), "0")
        await read(conn, point, local(2026, 9, 1), "100")
        burst = await read(conn, point, local(2026, 10, 1), "1000")
        assert "spike" in burst["flags"]
        result = await service.consumption(conn, point, SEPTEMBER)
        assert result["status"] == "held" and kinds(result) == ["implausible"]
        assert "exceeds the plausible 150" in result["reasons"][0]


async def _monthly(conn, demo, **extra):
    """A point read on the 1st of June to September at 1 m³ a day; no reading on 1 October."""
    point = await make_point(conn, demo["3-1201"], "3-1201 water", **extra)
    await fit(conn, point, "W-001", local(2026, 5, 20), "0")
    for month, value in ((6, "10"), (7, "40"), (8, "71"), (9, "102")):
        await read(conn, point, local(2026, month, 1), value)
    return point


async def test_a_missing_reading_holds_the_month_without_a_rule(engine, demo):
    async with engine.begin() as conn:
        point = await _monthly(conn, demo)
        result = await service.consumption(conn, point, SEPTEMBER)
        assert result["status"] == "held" and result["estimate_rule"] == "none"
        assert kinds(result) == ["missing_reading"] and result["end"] is None
        with pytest.raises(Conflict, match="nothing to estimate"):
            await service.store_estimate(conn, OFFICE, point, SEPTEMBER)


async def test_a_missing_reading_is_estimated_by_the_point_s_rule_and_trued_up(engine, demo):
    async with engine.begin() as conn:
        point = await _monthly(conn, demo, estimate_periods=2)
        result = await service.consumption(conn, point, SEPTEMBER)
        assert result["status"] == "estimated" and result["estimate_rule"] == "average_daily_of_previous(2)"
        assert result["quantity"] == Decimal("30.00")  # July and August: 62 m³ in 62 days, times 30
        assert kinds(result) == ["missing_reading", "estimated"]
        assert result["end"] == {"at": local(2026, 10, 1), "value": Decimal("132.00"), "serial": "W-001",
                                 "estimated": True}

        stored = await service.store_estimate(conn, OFFICE, point, SEPTEMBER)
        assert stored["reading"]["source"] == "estimate" and stored["reading"]["flags"] == ["estimated"]
        assert "average_daily_of_previous(2)" in stored["reading"]["note"]
        assert stored["consumption"]["status"] == "estimated"
        assert stored["consumption"]["quantity"] == Decimal("30.00")

        await read(conn, point, local(2026, 11, 1), "165")
        october = await service.consumption(conn, point, month_period("2026-10", SHANGHAI))
        assert october["status"] == "ok" and october["quantity"] == Decimal("33.00")
        assert kinds(october) == ["true_up"]


async def test_too_little_history_holds_even_with_a_rule(engine, demo):
    async with engine.begin() as conn:
        point = await _monthly(conn, demo, estimate_periods=4)
        result = await service.consumption(conn, point, SEPTEMBER)
        assert result["status"] == "held" and "estimate_unavailable" in kinds(result)
        changed = await points.update_point(conn, OFFICE, point.id, points.PointUpdate(estimate_periods=3))
        assert changed["estimate_periods"] == 3
        point = await points.point_row(conn, point.id)
        assert (await service.consumption(conn, point, SEPTEMBER))["status"] == "estimated"
