"""The Modbus meter simulator as a real peer: pymodbus clients read it over TCP and over RTU on a pty."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ModbusIOException

from drivers.base import LocalProtocolError
from drivers.modbus_meter import Register, decode_block, plan_reads
from simulators import modbus_meter
from simulators.modbus_meter import DEMO_UNITS, Fault, ModbusMeterSim, SimUnit
from tests.support.leftovers import no_leftovers  # noqa: F401  (autouse)

TIMEOUT = 5.0
NO_REPLY = 0.3
"""Client timeout where a test expects no reply: long enough for a loaded machine to answer, short to wait."""


def _r(name: str, address: int, function: str, type_: str, order: str, scale: str = "1") -> Register:
    return Register(name=name, address=address, function=function, type=type_, order=order,  # type: ignore[arg-type]
                    scale=Decimal(scale))


ELECTRICITY = SimUnit(unit_id=1, registers=(
    _r("voltage", 0, "input", "float32", "CDAB"),
    _r("energy_total", 2, "input", "float32", "CDAB"),
    _r("power", 10, "holding", "int32", "DCBA", "0.1"),
), start={"voltage": Decimal("230.1"), "energy_total": Decimal("1234.5"), "power": Decimal("-150.5")},
    step={"energy_total": Decimal("0.25")})
WATER = SimUnit(unit_id=2, registers=(
    _r("volume", 0, "holding", "uint32", "CDAB", "0.001"),
    _r("flow", 2, "holding", "uint16", "BADC", "0.01"),
    _r("meter_number", 100, "input", "bcd32", "ABCD"),
), start={"volume": Decimal("12.345"), "flow": Decimal("0.36"), "meter_number": 20240917},
    step={"volume": Decimal("0.010")})
UNITS = (ELECTRICITY, WATER)


@pytest.fixture
async def sim() -> AsyncIterator[ModbusMeterSim]:
    async with ModbusMeterSim(UNITS) as simulator:
        yield simulator


async def tcp_client(sim: ModbusMeterSim, timeout: float = TIMEOUT) -> AsyncModbusTcpClient:
    port = sim.tcp_port if sim.tcp_port is not None else await sim.serve_tcp()
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=timeout, retries=0)
    assert await client.connect()
    return client


async def rtu_client(sim: ModbusMeterSim, timeout: float = TIMEOUT) -> AsyncModbusSerialClient:
    path = sim.rtu_port if sim.rtu_port is not None else await sim.serve_rtu()
    client = AsyncModbusSerialClient(path, baudrate=9600, timeout=timeout, retries=0)
    assert await client.connect()
    return client


Connect = Callable[..., Awaitable[ModbusBaseClient]]
CLIENTS: dict[str, Connect] = {"tcp": tcp_client, "rtu": rtu_client}


@pytest.fixture(params=sorted(CLIENTS))
def connect(request: pytest.FixtureRequest) -> Connect:
    return CLIENTS[request.param]


async def read_unit(client: ModbusBaseClient, unit: SimUnit) -> dict[str, Decimal]:
    """Read a unit's whole map the way a gateway would: planned blocks, decoded by the register codec."""
    readings: dict[str, Decimal] = {}
    for block in plan_reads(unit.registers):
        read = client.read_holding_registers if block.function == "holding" else client.read_input_registers
        response = await read(block.start, count=block.count, device_id=unit.unit_id)
        assert not response.isError(), response
        readings |= decode_block(block, response.registers)
    return readings


async def read_first(client: ModbusBaseClient, unit_id: int) -> object:
    return await client.read_holding_registers(0, count=2, device_id=unit_id)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a condition that no event announces, checking often, for at most TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.005)


async def test_reads_decode_to_the_sims_readings(sim: ModbusMeterSim, connect: Connect) -> None:
    client = await connect(sim)
    assert await read_unit(client, ELECTRICITY) == sim.readings(1) == {
        "voltage": Decimal("230.1"), "energy_total": Decimal("1234.5"), "power": Decimal("-150.5")}
    assert await read_unit(client, WATER) == sim.readings(2)
    sim.advance(3)
    assert (await read_unit(client, ELECTRICITY))["energy_total"] == Decimal("1235.25")
    assert (await read_unit(client, WATER))["volume"] == Decimal("12.375")
    client.close()


async def test_tcp_and_rtu_serve_the_same_meters(sim: ModbusMeterSim) -> None:
    tcp, rtu = await tcp_client(sim), await rtu_client(sim)
    sim.set_value(2, "flow", Decimal("1.5"))
    assert await read_unit(tcp, WATER) == await read_unit(rtu, WATER) == sim.readings(2)
    assert sim.readings(2)["flow"] == Decimal("1.5")
    tcp.close()
    rtu.close()


async def test_registers_carry_the_declared_word_order(sim: ModbusMeterSim) -> None:
    client = await tcp_client(sim)
    response = await client.read_holding_registers(0, count=3, device_id=2)
    assert response.registers == [12345, 0, 0x2400]  # volume 12345 l, low word first; flow 36 byte-swapped
    client.close()


async def test_silent_unit_times_out_while_another_answers(sim: ModbusMeterSim,
                                                           connect: Connect) -> None:
    client = await connect(sim, NO_REPLY)
    sim.set_fault(2, Fault(silent=True))
    with pytest.raises(ModbusIOException, match="No response"):
        await read_first(client, 2)
    assert await read_unit(client, ELECTRICITY) == sim.readings(1)
    with pytest.raises(ModbusIOException, match="No response"):
        await read_first(client, 99)  # a unit id nobody serves: no reply, as on a bus
    sim.set_fault(2, Fault())
    assert await read_unit(client, WATER) == sim.readings(2)
    client.close()


async def test_exception_code_is_returned(sim: ModbusMeterSim, connect: Connect) -> None:
    client = await connect(sim)
    sim.set_fault(1, Fault(exception=6))
    response = await client.read_input_registers(0, count=4, device_id=1)
    assert response.isError() and (response.function_code, response.exception_code) == (0x84, 6)
    assert await read_unit(client, WATER) == sim.readings(2)
    sim.set_fault(1, Fault())
    assert await read_unit(client, ELECTRICITY) == sim.readings(1)
    client.close()


@pytest.mark.parametrize(("request_", "code"), [
    ("holding past the map", 2),
    ("input the unit lacks", 2),
    ("coils", 1),
    ("write", 2),
])
async def test_what_meters_refuse(sim: ModbusMeterSim, request_: str, code: int) -> None:
    client = await tcp_client(sim)
    response = await {
        "holding past the map": lambda: client.read_holding_registers(2, count=2, device_id=2),
        "input the unit lacks": lambda: client.read_input_registers(0, count=1, device_id=2),
        "coils": lambda: client.read_coils(0, count=1, device_id=2),
        "write": lambda: client.write_register(0, 7, device_id=2),
    }[request_]()
    assert response.isError() and response.exception_code == code
    client.close()


async def test_slow_unit_answers_late(sim: ModbusMeterSim, connect: Connect) -> None:
    client = await connect(sim)
    sim.set_fault(2, Fault(delay_ms=200))
    started = time.monotonic()
    assert await read_unit(client, WATER) == sim.readings(2)
    assert time.monotonic() - started >= 0.2 * len(plan_reads(WATER.registers))
    client.close()


async def test_late_reply_is_never_taken_for_another_units(sim: ModbusMeterSim,
                                                           connect: Connect) -> None:
    client = await connect(sim, NO_REPLY)
    sim.set_fault(2, Fault(delay_ms=int(NO_REPLY * 1000) + 200))
    with pytest.raises(ModbusIOException, match="No response"):
        await read_first(client, 2)
    sim.set_fault(2, Fault())
    answered = 0
    deadline = time.monotonic() + 0.5  # keep asking unit 1 while unit 2's late reply arrives
    while time.monotonic() < deadline:
        try:
            readings = await read_unit(client, ELECTRICITY)
        except ModbusIOException:  # unpaced RTU: the late reply may collide with unit 1's, as on a bus
            continue
        assert readings == sim.readings(1)
        answered += 1
    assert answered
    assert await read_unit(client, WATER) == sim.readings(2)
    client.close()


async def test_paced_rtu_line_takes_wire_time(sim: ModbusMeterSim) -> None:
    await sim.serve_rtu(baudrate=9600)
    client = await rtu_client(sim)
    started = time.monotonic()
    response = await client.read_holding_registers(0, count=3, device_id=2)
    elapsed = time.monotonic() - started
    wire = (8 + 5 + 2 * 3) * 11 / 9600  # request, reply header and CRC, three registers
    assert response.registers[0] == 12345
    assert sim.rtu_line_busy == pytest.approx(wire)
    assert elapsed >= wire
    client.close()


async def test_tick_advances_the_meters_over_time() -> None:
    async with ModbusMeterSim(UNITS, tick=0.01) as sim:
        await sim.serve_tcp()
        await until(lambda: sim.readings(2)["volume"] >= Decimal("12.375"))
        assert sim.readings(1)["voltage"] == Decimal("230.1")  # no step: stays put


def test_advance_is_all_or_nothing() -> None:
    counters = (_r("a", 0, "holding", "uint16", "ABCD"), _r("b", 1, "holding", "uint16", "ABCD"))
    almost = SimUnit(unit_id=5, registers=counters, start={"a": 1, "b": 65534}, step={"a": 1, "b": 1})
    sim = ModbusMeterSim([almost])
    sim.advance()
    with pytest.raises(LocalProtocolError, match=r"holding register 1 \(b\): 65536 is outside"):
        sim.advance()
    assert sim.readings(5) == {"a": Decimal(2), "b": Decimal(65535)}


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: ModbusMeterSim([ELECTRICITY, ELECTRICITY]), ValueError, "unit id 1 is used twice"),
    (lambda: SimUnit(unit_id=0, registers=()), ValueError, "1..247"),
    (lambda: SimUnit(unit_id=9, registers=ELECTRICITY.registers, start={"volts": 1}), ValueError,
     "no register named volts"),
    (lambda: Fault(exception=0x0C), ValueError, "not a Modbus exception code"),
    (lambda: Fault(delay_ms=-1), ValueError, "0 or more"),
    (lambda: ModbusMeterSim(UNITS).set_value(2, "flow", Decimal("655.36")), LocalProtocolError, "outside"),
    (lambda: ModbusMeterSim(UNITS).set_value(2, "flux", 1), KeyError, "flux"),
    (lambda: ModbusMeterSim(UNITS).set_fault(3, Fault()), KeyError, "no unit 3"),
])
def test_bad_setups_are_refused(make: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


async def test_cli_runner_serves_the_demo_meters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    modbus_meter.add_arguments(parser)
    link = tmp_path / "meters"
    args = parser.parse_args(["--tcp", "0", "--rtu", "--link", str(link), "--tick", "0"])
    runner = asyncio.create_task(modbus_meter.run(args))
    printed: list[str] = []

    def both_printed() -> bool:
        printed.extend(capsys.readouterr().out.splitlines())
        return len(printed) == 2

    await until(both_printed)
    tcp_line, rtu_line = printed
    assert tcp_line.startswith("modbus tcp 127.0.0.1:") and rtu_line.startswith("modbus rtu /dev/pts/")
    assert os.path.realpath(link) == rtu_line.split()[-1]
    tcp = AsyncModbusTcpClient("127.0.0.1", port=int(tcp_line.rsplit(":", 1)[1]), timeout=TIMEOUT, retries=0)
    rtu = AsyncModbusSerialClient(str(link), baudrate=9600, timeout=TIMEOUT, retries=0)
    assert await tcp.connect() and await rtu.connect()
    for unit in DEMO_UNITS:
        assert await read_unit(tcp, unit) == await read_unit(rtu, unit) == dict(unit.start)
    tcp.close()
    rtu.close()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert not os.path.lexists(link)


def test_module_entry_point_listens_until_interrupted() -> None:
    process = subprocess.Popen([sys.executable, "-m", "simulators.modbus_meter", "--tcp", "0", "--tick", "0"],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert select.select([process.stdout], [], [], TIMEOUT)[0], "the simulator printed nothing"
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("modbus tcp 127.0.0.1:")
        client = ModbusTcpClient("127.0.0.1", port=int(line.rsplit(":", 1)[1]), timeout=TIMEOUT, retries=0)
        assert client.connect()
        response = client.read_holding_registers(0, count=3, device_id=2)
        client.close()
        assert decode_block(plan_reads(DEMO_UNITS[1].registers)[0], response.registers) == dict(DEMO_UNITS[1].start)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0  # a loaded machine can take a while to tear the server down
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]


def test_cli_needs_a_transport(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        modbus_meter.main([])
    assert exit_info.value.code == 2
    assert "give --tcp PORT, --rtu, or both" in capsys.readouterr().err
