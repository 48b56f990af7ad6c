"""Staff, their attendance cards, and performance records."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from central.registry import attendance, estates, performance, staff
from central.registry.errors import Conflict, Invalid, NotFound
from tests.registry.conftest import OFFICE


@pytest.fixture
async def estate(engine):
    async with engine.begin() as conn:
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="demo", name="Demo"))


async def test_staff_crud(engine, estate):
    async with engine.begin() as conn:
        made = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(
            name="Sun Qiang", phone="186 0000 1111", position="技术员", shift="08:00-20:00, 4 on 2 off"))
        assert made["active"] is True and made["cards"] == [] and made["joined_on"] is not None
        assert "name_key" not in made and "phone_rev" not in made
        changed = await staff.update_staff(conn, OFFICE, made["id"], staff.StaffUpdate(shift="night",
                                                                                      joined_on=date(2025, 3, 1)))
        assert (changed["shift"], changed["joined_on"], changed["position"]) == ("night", date(2025, 3, 1), "技术员")
        with pytest.raises(Invalid, match="active: may not be null"):
            await staff.update_staff(conn, OFFICE, made["id"], staff.StaffUpdate(active=None))
        other = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(name="Left Already", active=False))
        assert [s["id"] for s in await staff.list_staff(conn, "demo", active=True)] == [made["id"]]
        assert len(await staff.list_staff(conn, "demo")) == 2
        await staff.delete_staff(conn, OFFICE, other["id"])
        with pytest.raises(NotFound, match="no staff member"):
            await staff.get_staff(conn, other["id"])


async def test_cards(engine, estate):
    async with engine.begin() as conn:
        one = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(name="One"))
        two = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(name="Two"))
        card = await staff.add_card(conn, OFFICE, one["id"], staff.CardCreate(card=" 0a1b 2c3d4e "))
        assert card["card"] == "0A1B2C3D4E"
        assert (await staff.get_staff(conn, one["id"]))["cards"] == [{"id": card["id"], "card": "0A1B2C3D4E"}]
        with pytest.raises(Conflict, match=f"card: 0A1B2C3D4E already belongs to staff member {one['id']}"):
            await staff.add_card(conn, OFFICE, two["id"], staff.CardCreate(card="0A1B2C3D4E"))
        assert await staff.staff_for_card(conn, "demo", "0a1b2c3d4e") == one["id"]
        await staff.remove_card(conn, OFFICE, card["id"])
        assert await staff.staff_for_card(conn, "demo", "0A1B2C3D4E") is None
    with pytest.raises(ValidationError, match="card"):
        staff.CardCreate(card="卡-1")


async def test_staff_with_records_are_kept(engine, estate):
    async with engine.begin() as conn:
        worker = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(name="Kept"))
        await attendance.add_manual(conn, OFFICE, worker["id"], attendance.ManualEntry(
            at=datetime(2026, 11, 2, 1, tzinfo=timezone.utc), kind="in"))
        with pytest.raises(Conflict, match="set active to false instead"):
            await staff.delete_staff(conn, OFFICE, worker["id"])


async def test_performance_records(engine, estate):
    async with engine.begin() as conn:
        worker = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(name="Sun Qiang"))
        made = await performance.create_performance(conn, OFFICE, worker["id"], performance.PerformanceCreate(
            period="2026-11", metric="repair_rating", value="4.75", note="12 ratings"))
        assert made["value"] == Decimal("4.75") and made["staff_name"] == "Sun Qiang"
        with pytest.raises(Conflict, match="repair_rating for 2026-11 is already recorded"):
            await performance.create_performance(conn, OFFICE, worker["id"], performance.PerformanceCreate(
                period="2026-11", metric="repair_rating", value=5))
        await performance.create_performance(conn, OFFICE, worker["id"], performance.PerformanceCreate(
            period="2026-10", metric="tasks_done", value=31))
        changed = await performance.update_performance(conn, OFFICE, made["id"], performance.PerformanceUpdate(
            value=Decimal("4.80")))
        assert changed["value"] == Decimal("4.80") and changed["note"] == "12 ratings"
        assert [r["metric"] for r in await performance.list_performance(conn, "demo")] == ["tasks_done",
                                                                                          "repair_rating"]
        assert len(await performance.list_performance(conn, "demo", period="2026-11")) == 1
        await performance.delete_performance(conn, OFFICE, made["id"])
        assert len(await performance.list_performance(conn, "demo", staff_id=worker["id"])) == 1
    with pytest.raises(ValidationError, match="period"):
        performance.PerformanceCreate(period="2026-13", metric="tasks_done", value=1)
    with pytest.raises(ValidationError, match="metric"):
        performance.PerformanceCreate(period="2026-11", metric="Tasks Done", value=1)
