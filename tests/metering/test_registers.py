"""Which register bills a meter: the one its binding names, else a well-known counter; the rest are other_register."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from decimal import Decimal

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import inspect, select, text

from central.db import alembic_config
from central.metering import meters
from central.metering.errors import Invalid
from central.metering.events import WELL_KNOWN_COUNTERS, bills, readings_from_events
from central.metering.models import MeterReading
from tests.metering.conftest import OFFICE, fit, local, make_point

AT = local(2026, 9, 2, 8)


def reading(seq: int, register: str | None, value: str, unit: str, *, at: datetime = AT,
            meter: str = "b3-102-power") -> dict:
    """An events-table row of a meter_bus device's `meter.reading`, as ingest builds it."""
    data = {"meter": meter, "value": value, "unit": unit, "quality": []}
    if register is not None:
        data["register"] = register
    return {"id": seq, "uuid": str(uuid.uuid4()), "estate": "demo", "gateway": "gw-1", "seq": seq,
            "device": "block3-power", "kind": "meter.reading", "device_time": None, "received_at": at,
            "stored_at": at, "data": data}


def dlt645_poll(seq: int, *, at: datetime = AT, combined_first: bool = False) -> list[dict]:
    """One poll of a DL/T 645 meter reading forward and combined active energy, phase-A voltage and power."""
    energies = [reading(seq, "forward_active_energy", "1234.56", "kWh", at=at),
                reading(seq + 1, "combined_active_energy", "1299.99", "kWh", at=at)]
    return [*(energies[::-1] if combined_first else energies),
            reading(seq + 2, "voltage_a", "230.0", "V", at=at), reading(seq + 3, "active_power", "1.2345", "kW", at=at)]


async def _power_point(conn, demo, **binding):
    point = await make_point(conn, demo["3-1202"], "3-1202 power", kind="electricity", limit="999999.99",
                             max_per_day="100")
    await fit(conn, point, "E-102", local(2026, 9, 1), "1000", gateway="gw-1", device="b3-102-power", **binding)
    return point


async def _stored(conn) -> list[tuple[int, Decimal]]:
    rows = (await conn.execute(select(MeterReading.event_seq, MeterReading.value)
                               .where(MeterReading.source == "gateway").order_by(MeterReading.id))).all()
    return [(row.event_seq, row.value) for row in rows]


async def test_by_default_a_dlt645_meter_bills_from_forward_active_energy_only(engine, demo):
    async with engine.begin() as conn:
        await _power_point(conn, demo)
        # Combined first: arriving first at the instant no longer makes it the reading.
        counts = await readings_from_events(conn, dlt645_poll(1, combined_first=True))
        assert counts == {"stored": 1, "other_register": 3}
        assert await _stored(conn) == [(1, Decimal("1234.560"))]
        # A redelivery changes nothing, and nothing is ever "invalid" or a "conflict".
        counts = await readings_from_events(conn, dlt645_poll(1))
        assert counts == {"duplicate": 1, "other_register": 3}


async def test_a_binding_naming_combined_active_energy_bills_from_it_only(engine, demo):
    async with engine.begin() as conn:
        await _power_point(conn, demo, register="combined_active_energy")
        counts = await readings_from_events(conn, [
            *dlt645_poll(1), *dlt645_poll(5, at=local(2026, 9, 2, 9)),
            reading(9, None, "1300.50", "kWh", at=local(2026, 9, 2, 10))])  # unnamed: not shown to be combined
        assert counts == {"stored": 2, "other_register": 7}
        assert await _stored(conn) == [(2, Decimal("1299.990")), (6, Decimal("1299.990"))]


async def test_a_reading_without_a_register_still_bills_an_unnamed_binding(engine, demo):
    async with engine.begin() as conn:
        await _power_point(conn, demo)
        counts = await readings_from_events(conn, [
            reading(1, None, "1010", "kWh"),                                          # an older gateway
            reading(2, None, "230.0", "V", at=local(2026, 9, 2, 9)),                  # unnamed, not a counter: invalid
            reading(3, "voltage_a", "oops", "V", at=local(2026, 9, 2, 10)),           # not the counter: not read
            reading(4, 7, "1011", "kWh", at=local(2026, 9, 2, 11)),                   # a register is a name
            reading(5, "forward_active_energy", "1011", "m3", at=local(2026, 9, 2, 12))])
        assert counts == {"stored": 1, "invalid": 3, "other_register": 1}
        assert await _stored(conn) == [(1, Decimal("1010.000"))]


async def test_well_known_counters_of_water_and_modbus_meters(engine, demo):
    async with engine.begin() as conn:
        water = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, water, "W-1", local(2026, 9, 1), gateway="gw-1", device="b3-101-water")
        pool = await make_point(conn, None, "car park water", common_area_id=demo["lobby"])
        await fit(conn, pool, "W-2", local(2026, 9, 1), gateway="gw-1", device="car-park-water")
        shop = await make_point(conn, demo["3-1202"], "3-1202 power", kind="electricity", limit="999999.99",
                                max_per_day="100")
        await fit(conn, shop, "E-1", local(2026, 9, 1), gateway="gw-1", device="shop-1-power")
        events = [reading(1, "cumulative_flow", "12.34", "m³", meter="b3-101-water"),
                  reading(2, "volume", "3.5", "m3", meter="car-park-water"),          # a map of the config's own
                  reading(3, "flow_rate", "0.12", "m3/h", meter="car-park-water"),
                  *(reading(4 + i, name, "42.5", "kWh", meter="shop-1-power")
                    for i, name in enumerate(("import_active_energy", "export_active_energy", "total_active_energy")))]
        counts = await readings_from_events(conn, events)
        assert counts == {"stored": 2, "other_register": 4}
        assert [seq for seq, _ in await _stored(conn)] == [1, 6]

        # The installer names the map's counter; the next readings of it are stored.
        (meter,) = await meters.list_meters(conn, pool.id)
        await meters.update_meter(conn, OFFICE, meter["id"], meters.MeterUpdate(register="volume"))
        later = local(2026, 9, 2, 9)
        counts = await readings_from_events(conn, [reading(10, "volume", "3.6", "m3", at=later, meter="car-park-water"),
                                                   reading(11, "flow_rate", "0", "m3/h", at=later,
                                                           meter="car-park-water")])
        assert counts == {"stored": 1, "other_register": 1}


def test_the_well_known_counters_are_the_gateway_s_own_names_one_per_meter():
    from drivers.dlt645.codec import DI_FORWARD_ACTIVE_TOTAL, REGISTERS
    from drivers.meter_bus.cjt188_reader import REGISTER
    from drivers.meter_bus.dlt645_reader import READABLE
    from edge_config.meter_models import BUILTIN_MODELS

    assert REGISTERS[DI_FORWARD_ACTIVE_TOTAL].name in WELL_KNOWN_COUNTERS
    assert WELL_KNOWN_COUNTERS & set(READABLE) == {"forward_active_energy"}
    assert REGISTER in WELL_KNOWN_COUNTERS
    for name, model in BUILTIN_MODELS.items():  # a new built-in model needs its counter named here
        assert len(WELL_KNOWN_COUNTERS & {r.name for r in model.registers}) == 1, name
    assert bills(None, None) and bills(None, "cumulative_flow") and not bills(None, "volume")
    assert bills("volume", "volume") and not bills("volume", None) and not bills("volume", "cumulative_flow")


def test_a_binding_s_register_follows_the_gateway_s_naming_rule():
    from drivers.dlt645.codec import REGISTERS
    from edge_config import meter_bus

    names = [*(r.name for r in REGISTERS.values()), "cumulative_flow", "volume", "a", "x" * 64]
    for name in names:
        assert meters.MeterUpdate(register=name).billing_register == name
        assert meter_bus._NAME.fullmatch(name)
    for bad in ("", "Volume", "1st_register", "flow rate", "flow-rate", "x" * 65, "volume\n", " volume"):
        with pytest.raises(ValidationError, match="register"):
            meters.MeterUpdate(register=bad)
        assert not meter_bus._NAME.fullmatch(bad)
    with pytest.raises(ValidationError, match="billing_register"):
        meters.MeterUpdate.model_validate({"billing_register": "volume"})  # the Python name is not the API's


async def test_the_register_goes_with_the_binding_through_install_replace_and_update(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        with pytest.raises(Invalid, match="register"):
            await fit(conn, point, "W-0", local(2026, 8, 1), register="volume")  # no binding to name it in
        meter = await fit(conn, point, "W-1", local(2026, 8, 1), gateway="gw-1", device="wm-1", register="volume")
        assert meter["register"] == "volume"

        # Replaced without a binding: the new meter is read as the old one was, register and all.
        done = await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
            at=local(2026, 8, 10), old_final="5", new=meters.NewMeter(serial="W-2", first_reading="0")))
        assert (done["fitted"]["device"], done["fitted"]["register"]) == ("wm-1", "volume")
        # ... or by another register of the same device.
        done = await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
            at=local(2026, 8, 20), old_final="5", new=meters.NewMeter(serial="W-3", first_reading="0",
                                                                      register="total_volume")))
        assert (done["fitted"]["device"], done["fitted"]["register"]) == ("wm-1", "total_volume")
        # A new binding names its own register, or none.
        done = await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
            at=local(2026, 8, 25), old_final="5", new=meters.NewMeter(serial="W-4", first_reading="0",
                                                                      gateway="gw-1", device="wm-2")))
        assert (done["fitted"]["device"], done["fitted"]["register"]) == ("wm-2", None)
        meter_id = done["fitted"]["id"]

        update = meters.update_meter
        assert (await update(conn, OFFICE, meter_id, meters.MeterUpdate(register="volume")))["register"] == "volume"
        moved = await update(conn, OFFICE, meter_id, meters.MeterUpdate(gateway="gw-1", device="wm-3"))
        assert (moved["device"], moved["register"]) == ("wm-3", "volume")
        cleared = await update(conn, OFFICE, meter_id, meters.MeterUpdate(register=None))
        assert (cleared["device"], cleared["register"]) == ("wm-3", None)
        await update(conn, OFFICE, meter_id, meters.MeterUpdate(register="volume"))
        unbound = await update(conn, OFFICE, meter_id, meters.MeterUpdate(gateway=None, device=None))
        assert (unbound["gateway"], unbound["register"]) == (None, None)
        for body in (meters.MeterUpdate(register="volume"),
                     meters.MeterUpdate(gateway=None, device=None, register="volume")):
            with pytest.raises(Invalid, match="register"):
                await update(conn, OFFICE, meter_id, body)
        with pytest.raises(Invalid, match="new.register"):
            await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
                at=local(2026, 8, 28), old_final="5", new=meters.NewMeter(serial="W-5", first_reading="0",
                                                                          register="volume")))


def _columns(sync_conn) -> tuple[list[str], set[str]]:
    found = inspect(sync_conn)
    return [c["name"] for c in found.get_columns("meters")], {i["name"] for i in found.get_indexes("meters")}


async def test_the_migration_adds_and_drops_the_register_column(engine, demo, database_url):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-1", local(2026, 9, 1), "7", gateway="gw-1", device="wm-1", register="volume")
        columns, indexes = await conn.run_sync(_columns)
    assert "register" in columns and {"uq_meters_point_fitted", "uq_meters_device_fitted"} <= indexes
    await engine.dispose()  # SQLite: no connection of ours holds the file while the schema changes

    config = alembic_config(database_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert int(head) >= 8  # 0008 adds meters.register; later ones go down and up with it
    await asyncio.to_thread(command.downgrade, config, "0007")
    async with engine.connect() as conn:
        columns, after = await conn.run_sync(_columns)
        assert "register" not in columns and after == indexes  # the partial unique indexes are kept
        assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == "0007"
        row = (await conn.execute(text("SELECT serial, gateway, device FROM meters"))).one()
        assert tuple(row) == ("W-1", "gw-1", "wm-1")
    await engine.dispose()

    await asyncio.to_thread(command.upgrade, config, "head")
    async with engine.begin() as conn:
        columns, after = await conn.run_sync(_columns)
        assert "register" in columns and after == indexes
        (meter,) = await meters.list_meters(conn, point.id)
        assert meter["register"] is None  # what was named before the downgrade is gone: bind it again
        assert (await readings_from_events(conn, [reading(1, "volume", "8", "m3", meter="wm-1")])) == {
            "other_register": 1}
        assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == head
