"""Meter points and their meters: create, read, update, install and replace, audited, on both databases."""
from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from central.auth.models import AuditEntry
from central.metering import meters, points, readings
from central.metering.errors import Conflict, Invalid, NotFound
from central.metering.models import Meter, MeterReading
from tests.metering.conftest import OFFICE, fit, local, make_point


async def test_point_create_read_update(engine, demo):
    async with engine.begin() as conn:
        water = await points.create_point(conn, OFFICE, "demo", points.PointCreate(
            kind="water", name="3-1201 water", unit_id=demo["3-1201"], register_limit="99999.99", max_per_day="3",
            leak_min_flow_per_hour="0.010"))
        assert water["register_limit"] == Decimal("99999.99") and water["resolution"] == Decimal("0.01")
        assert water["leak_nights"] == 3 and water["estimate_periods"] == 0 and water["meter_serial"] is None
        lights = await points.create_point(conn, OFFICE, "demo", points.PointCreate(
            kind="electricity", name="Lobby lights", common_area_id=demo["lobby"], register_limit="999999.9",
            max_per_day="200"))
        assert lights["unit_id"] is None and lights["resolution"] == Decimal("0.1")

        listed = await points.list_points(conn, "demo")
        assert [p["name"] for p in listed] == ["3-1201 water", "Lobby lights"]
        assert [p["name"] for p in await points.list_points(conn, "demo", kind="electricity")] == ["Lobby lights"]
        assert [p["name"] for p in await points.list_points(conn, "demo", only_units={demo["3-1202"]})] == []
        assert await points.list_points(conn, "other") == []

        changed = await points.update_point(conn, OFFICE, water["id"], points.PointUpdate(
            name="3-1201 cold water", estimate_periods=3, leak_min_flow_per_hour=None))
        assert changed["name"] == "3-1201 cold water" and changed["estimate_periods"] == 3
        assert changed["leak_min_flow_per_hour"] is None and changed["leak_nights"] is None
        moved = await points.update_point(conn, OFFICE, lights["id"], points.PointUpdate(
            common_area_id=None, unit_id=demo["3-1202"]))
        assert moved["unit_id"] == demo["3-1202"] and moved["common_area_id"] is None

        entry = (await conn.execute(select(AuditEntry).where(AuditEntry.action == "meter_point.update")
                                    .order_by(AuditEntry.id))).first()
        assert entry.before["name"] == "3-1201 water" and entry.after["name"] == "3-1201 cold water"
        assert entry.actor == "office-zhao" and entry.estate == "demo"


@pytest.mark.parametrize("fields, error, message", [
    ({}, Invalid, "exactly one of unit_id"),
    ({"unit_id": "U", "common_area_id": "L"}, Invalid, "exactly one of unit_id"),
    ({"unit_id": "1-101"}, Invalid, "estate 'demo' has no unit"),
    ({"unit_id": "U", "kind": "gas", "leak_min_flow_per_hour": "0.1"}, Invalid, "leak detection is for water"),
    ({"unit_id": "U", "register_limit": "99999.99", "resolution": "0.1"}, Invalid, "more decimals than"),
    ({"unit_id": "U", "resolution": "0.5"}, Invalid, "expected 1, 0.1, 0.01 or 0.001"),
    ({"unit_id": "U", "name": "taken"}, Conflict, "already has a meter point 'taken'"),
])
async def test_point_refusals(engine, demo, fields, error, message):
    ids = {"U": demo["3-1201"], "L": demo["lobby"], "1-101": demo["1-101"]}
    body = {"kind": "water", "name": "new", "register_limit": "9999.999", "max_per_day": "5", **fields}
    for key in ("unit_id", "common_area_id"):
        if key in body:
            body[key] = ids[body[key]]
    async with engine.begin() as conn:
        await make_point(conn, demo["3-1202"], "taken")
        with pytest.raises(error, match=message):
            await points.create_point(conn, OFFICE, "demo", points.PointCreate(**body))


def test_register_values_must_be_strings_not_floats():
    with pytest.raises(ValidationError, match="send register values as strings"):
        points.PointCreate(kind="water", name="x", unit_id=1, register_limit=99999.99, max_per_day="5")
    with pytest.raises(ValidationError, match="decimal places|digits"):
        readings.ManualReading(at="2026-10-01T00:00:00+08:00", value="1.0001")


async def test_install_and_replace_keep_the_history(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        first = await fit(conn, point, "W-001", local(2026, 8, 20, 10), "12.50", gateway="gw-1", device="wm-3-1201")
        assert first["removed_at"] is None and first["first_reading"] == Decimal("12.50")
        with pytest.raises(Conflict, match="already has a meter fitted"):
            await fit(conn, point, "W-009", local(2026, 8, 21))
        await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=local(2026, 9, 1), value="20.00"))

        with pytest.raises(Invalid, match="W-001 is the meter being removed"):
            await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
                at=local(2026, 9, 15), old_final="30", new=meters.NewMeter(serial="W-001", first_reading="0")))
        with pytest.raises(Conflict, match="has readings up to"):
            await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
                at=local(2026, 8, 30), old_final="19", new=meters.NewMeter(serial="W-002", first_reading="0")))
        misdated = await readings.add_manual(conn, OFFICE, point, readings.ManualReading(
            at=local(2026, 9, 20), value="21.00"))
        with pytest.raises(Conflict, match="has readings up to"):
            await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
                at=local(2026, 9, 15, 12), old_final="35.25", new=meters.NewMeter(serial="W-002", first_reading="0")))
        await readings.update_reading(conn, OFFICE, misdated["id"], readings.ReadingUpdate(invalid=True))
        done = await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
            at=local(2026, 9, 15, 12), old_final="35.25", new=meters.NewMeter(serial="W-002", first_reading="0.10")))
        assert done["removed"]["final_reading"] == Decimal("35.25")
        assert done["removed"]["removed_at"] == local(2026, 9, 15, 12)
        assert done["fitted"]["installed_at"] == local(2026, 9, 15, 12)
        assert (done["fitted"]["gateway"], done["fitted"]["device"]) == ("gw-1", "wm-3-1201")  # read as before

        history = await meters.list_meters(conn, point.id)
        assert [(m["serial"], m["final_reading"]) for m in history] == [("W-001", Decimal("35.25")),
                                                                       ("W-002", None)]
        stored = await readings.list_readings(conn, point.id)
        assert [(r["meter_serial"], r["value"], r["flags"]) for r in stored] == [
            ("W-001", Decimal("12.50"), ["manual", "first"]), ("W-001", Decimal("20.00"), ["manual"]),
            ("W-001", Decimal("21.00"), ["manual", "invalid"]), ("W-001", Decimal("35.25"), ["manual", "final"]),
            ("W-002", Decimal("0.10"), ["manual", "first"])]
        assert (await points.get_point(conn, point.id))["meter_serial"] == "W-002"
        actions = (await conn.execute(select(AuditEntry.action).where(AuditEntry.entity == "meter")
                                      .order_by(AuditEntry.id))).scalars().all()
        assert actions == ["meter.install", "meter.remove", "meter.install"]


async def test_a_refused_replacement_changes_nothing(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        other = await make_point(conn, demo["3-1202"], "3-1202 water")
        await fit(conn, point, "W-001", local(2026, 8, 1))
        await fit(conn, other, "W-777", local(2026, 8, 1))
    with pytest.raises(Conflict, match="W-777 is fitted elsewhere"):
        async with engine.begin() as conn:
            await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
                at=local(2026, 9, 1), old_final="10", new=meters.NewMeter(serial="W-777", first_reading="0")))
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Meter).where(Meter.removed_at.is_not(None))) == 0
        assert await conn.scalar(select(func.count()).select_from(MeterReading)) == 2


async def test_binding_a_device_is_exclusive(engine, demo):
    async with engine.begin() as conn:
        one = await make_point(conn, demo["3-1201"], "one")
        two = await make_point(conn, demo["3-1202"], "two")
        await fit(conn, one, "A", local(2026, 8, 1), gateway="gw-1", device="bus-1")
        second = await fit(conn, two, "B", local(2026, 8, 1))
        with pytest.raises(Conflict, match="gw-1/bus-1 already reads another fitted meter"):
            await meters.update_meter(conn, OFFICE, second["id"], meters.MeterUpdate(gateway="gw-1", device="bus-1"))
        with pytest.raises(Invalid, match="gateway and device together"):
            await meters.update_meter(conn, OFFICE, second["id"], meters.MeterUpdate(gateway=None))
        bound = await meters.update_meter(conn, OFFICE, second["id"], meters.MeterUpdate(gateway="gw-1",
                                                                                         device="bus-2"))
        assert (bound["gateway"], bound["device"]) == ("gw-1", "bus-2")
        with pytest.raises(NotFound):
            await meters.get_meter(conn, 999)
    with pytest.raises(ValidationError, match="together"):
        meters.MeterInstall(serial="x", installed_at=local(2026, 8, 1), first_reading="0", gateway="gw-1")


async def test_manual_readings_are_checked(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water", limit="9999.99")
        with pytest.raises(Invalid, match="no meter was fitted"):
            await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=local(2026, 9, 1), value="1"))
        await fit(conn, point, "W-001", local(2026, 8, 1))
        with pytest.raises(Invalid, match="above the register limit 9999.99"):
            await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=local(2026, 9, 1),
                                                                                  value="10000"))
        with pytest.raises(Invalid, match="meter W-001 was fitted .* not W-002"):
            await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=local(2026, 9, 1), value="1",
                                                                                  serial="W-002"))
        with pytest.raises(Invalid, match="in the future"):
            await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=local(2027, 1, 1), value="1"))
        made = await readings.add_manual(conn, OFFICE, point, readings.ManualReading(
            at=local(2026, 9, 1), value="4.5", serial="W-001", note="read by Wang"))
        assert made["source"] == "manual" and made["note"] == "read by Wang" and made["at"] == local(2026, 9, 1)
        with pytest.raises(Conflict, match="already has a reading"):
            await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=local(2026, 9, 1), value="5"))
        entry = (await conn.execute(select(AuditEntry).where(AuditEntry.entity_id == str(made["id"]),
                                                             AuditEntry.entity == "reading"))).one()
        assert entry.action == "reading.create" and entry.before is None and entry.after["value"] == "4.500"
