"""The meter bus adapter polling Modbus meters: RTU over a real pty and TCP, against simulators.modbus_meter."""
from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from drivers.meter_bus import LineSpec, MeterSpec, ModbusReader
from drivers.modbus_meter import Register
from simulators.modbus_meter import DEMO_UNITS, Fault, ModbusMeterSim, SimUnit
from tests.meter_bus.conftest import Bus, until

UNITS = {unit.unit_id: unit for unit in DEMO_UNITS}


@pytest.fixture
async def sim() -> AsyncIterator[ModbusMeterSim]:
    async with ModbusMeterSim(DEMO_UNITS) as meters:
        yield meters


async def line_to(sim: ModbusMeterSim, transport: str) -> LineSpec:
    if transport == "rtu":
        return LineSpec(await sim.serve_rtu(), baudrate=9600, gap_s=3.5 * 11 / 9600, turnaround_s=0.05)
    return LineSpec(f"tcp://127.0.0.1:{await sim.serve_tcp()}", baudrate=None)


def specs(transport: str, period: float = 0.2, units: tuple[int, ...] = (1, 2, 3),
          response_s: float = 0.15) -> list[MeterSpec]:
    return [MeterSpec(f"u{unit}", period, ModbusReader(unit, UNITS[unit].registers, tcp=transport == "tcp",
                                                       response_s=response_s)) for unit in units]


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
async def test_readings_advance_and_become_events_with_their_fields(sim: ModbusMeterSim, transport: str) -> None:
    # No frame may be lost on a healthy line, so the sim (on this test's own loop) gets more than 0.15 s to answer
    # when other tests' processes hold the CPU: on a loaded 2-core machine a reply missed that and was counted.
    async with Bus(await line_to(sim, transport), specs(transport, response_s=0.5)) as bus:
        first = await bus.wait_for("u1", 3)
        await bus.wait_for("u3", 2)
        sim.advance(4)
        await until(lambda: "12.385" in bus.values("u2") and "1235.5" in bus.values("u1"))
    assert [event.data for event in first[:3]] == [
        {"meter": "u1", "register": "voltage", "value": "230.1", "unit": "V", "quality": [], "unit_id": 1},
        {"meter": "u1", "register": "current", "value": "4.25", "unit": "A", "quality": [], "unit_id": 1},
        {"meter": "u1", "register": "energy_total", "value": "1234.5", "unit": "kWh", "quality": [], "unit_id": 1},
    ]
    assert all(event.device_time is None for _, event in bus.events)  # Modbus meters have no standard clock
    heat = {event.data["register"]: event.data["value"] for event in bus.readings("u3")}
    assert heat["flow_temp"] == "55.5" and heat["heat_energy"].startswith("43")
    assert bus.stats.frames_rejected == 0 and bus.stats.frames_ok >= 8


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
async def test_an_exception_reply_is_counted_as_refused_and_the_others_carry_on(sim: ModbusMeterSim,
                                                                                transport: str) -> None:
    sim.set_fault(2, Fault(exception=2))
    async with Bus(await line_to(sim, transport), specs(transport), retry_s=0.1, backoff_max_s=0.2) as bus:
        await until(lambda: bus.stats.rejections.get("u2:refused", 0) >= 2)
        await bus.wait_for("u3", 4)
        assert bus.adapter.meter_states()["u2"]["state"] == "refused"
        assert "illegal_address" in (bus.stats.last_error or "")
        sim.set_fault(2, Fault())
        await bus.wait_for("u2", 2)
    assert bus.adapter.meter_states()["u2"]["state"] == "ok"


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
async def test_a_silent_and_a_slow_unit_do_not_mix_up_their_neighbours_readings(sim: ModbusMeterSim,
                                                                               transport: str) -> None:
    sim.set_fault(1, Fault(silent=True))
    sim.set_fault(2, Fault(delay_ms=250))  # answers well after its 150 ms allowance: late, then discarded
    async with Bus(await line_to(sim, transport), specs(transport), retry_s=0.1, backoff_max_s=0.2) as bus:
        await until(lambda: bus.stats.rejections.get("u1:timeout", 0) >= 2
                    and bus.stats.rejections.get("u2:timeout", 0) >= 2)
        await bus.wait_for("u3", 6)
    assert bus.readings("u1") == [] and bus.readings("u2") == []
    assert {event.data["register"] for event in bus.readings("u3")} == {"heat_energy", "flow_temp"}
    assert {event.data["value"] for event in bus.readings("u3") if event.data["register"] == "flow_temp"} == {"55.5"}
    states = bus.adapter.meter_states()
    assert (states["u1"]["state"], states["u2"]["state"], states["u3"]["state"]) == ("silent", "silent", "ok")


async def test_a_value_the_register_type_cannot_hold_is_counted_and_skipped() -> None:
    plain = Register(name="index", address=0, function="holding", type="uint16", order="ABCD", unit="kWh")
    async with ModbusMeterSim([SimUnit(unit_id=9, registers=(plain,), start={"index": Decimal(1234)})]) as sim:
        line = LineSpec(f"tcp://127.0.0.1:{await sim.serve_tcp()}", baudrate=None)
        # The register holds 0x04D2: fine as a uint16, not BCD (a map that names the wrong type).
        wrong = Register(name="index", address=0, function="holding", type="bcd16", order="ABCD", unit="kWh")
        meters = [MeterSpec("ok", 0.2, ModbusReader(9, [plain], tcp=True)),
                  MeterSpec("bad", 0.2, ModbusReader(9, [wrong], tcp=True))]
        async with Bus(line, meters, retry_s=0.1, backoff_max_s=0.2) as bus:
            await until(lambda: bus.stats.rejections.get("bad:bad_value", 0) >= 1)
            await bus.wait_for("ok", 2)
    assert bus.values("ok")[0] == "1234" and bus.readings("bad") == []
    assert "nibble above 9" in (bus.adapter.meter_states()["bad"]["last_error"] or "")
