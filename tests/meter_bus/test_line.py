"""The bus line owner on real transports: reply deadlines from frame sizes, the inter-frame gap, line failures."""
from __future__ import annotations

import asyncio
import statistics
from decimal import Decimal

import pytest

from drivers.base import TransportError
from drivers.dlt645 import DI_FORWARD_ACTIVE_TOTAL, DI_VOLTAGE_A
from drivers.dlt645 import codec as dlt645
from drivers.meter_bus import BusLine, Dlt645Reader, LineSpec, MeterSilent, MeterSpec, Reading, char_time, rtu_gap
from simulators.meter_bus_sim import MeterBusSim, SimFault
from simulators.meter_responders import Dlt645Meter
from tests.meter_bus.conftest import Bus

REQUEST, REPLY = 20, 24  # DL/T 645 energy read: 4 wake-up bytes + 16; the largest reply allowed for: + 4 + 4


def test_character_time_and_the_rtu_gap() -> None:
    assert char_time(9600) == pytest.approx(11 / 9600)
    assert rtu_gap(9600) == pytest.approx(3.5 * 11 / 9600)  # 4.01 ms
    assert rtu_gap(38400) == 0.00175  # the Modbus spec fixes it above 19200 baud


async def test_the_reply_deadline_is_the_frames_wire_time_plus_the_allowance() -> None:
    async with MeterBusSim([Dlt645Meter("000000000161")]) as sim:
        sim.set_fault("000000000161", SimFault(silent=True))
        reader = Dlt645Reader("000000000161", [DI_FORWARD_ACTIVE_TOTAL], response_s=0.05)
        loop = asyncio.get_running_loop()
        async with BusLine("bus-1", LineSpec(sim.port or "", baudrate=1200)) as line:
            started = loop.time()
            with pytest.raises(MeterSilent, match="no reply to DI 00010000"):
                await reader.poll(line, [])
            waited = loop.time() - started
    expected = (REQUEST + REPLY) * 11 / 1200 + 0.05  # 0.453 s: at 1200 baud the frames alone take 0.40 s
    assert expected <= waited <= expected + 0.3


async def test_the_gap_is_kept_between_a_reply_and_the_next_request() -> None:
    meters = [Dlt645Meter(f"00000000016{i}", energy=Decimal(i)) for i in range(1, 4)]
    gap = 0.02
    async with MeterBusSim(meters, baudrate=9600) as sim:
        specs = [MeterSpec(f"m{i}", 0.01, Dlt645Reader(m.address, [DI_FORWARD_ACTIVE_TOTAL])) for i, m in
                 enumerate(meters)]
        async with Bus(LineSpec(sim.port or "", baudrate=9600, gap_s=gap), specs) as bus:
            await bus.wait_for("m2", 10)
    wire = char_time(9600)
    # The sim logs when each request's last byte crossed the line; the reply (20 bytes) follows at once.
    silences = [(b - REQUEST * wire) - (a + 20 * wire) for (a, _), (b, _) in zip(sim.requests, sim.requests[1:])]
    assert min(silences) >= gap - 0.001
    assert statistics.median(silences) <= 3 * gap  # kept, not padded (generously: a loaded machine is late)


async def test_readings_taken_before_a_failure_in_the_same_poll_are_kept() -> None:
    async with MeterBusSim([Dlt645Meter("000000000161", energy=Decimal("12.34"))]) as sim:
        reader = Dlt645Reader("000000000161", [DI_FORWARD_ACTIVE_TOTAL, DI_FORWARD_ACTIVE_TOTAL], response_s=0.05)
        out: list[Reading] = []
        async with BusLine("bus-1", LineSpec(sim.port or "", baudrate=9600)) as line:
            await reader.poll(line, out)
            sim.set_fault("000000000161", SimFault(drop=1.0))
            with pytest.raises(MeterSilent):
                await reader.poll(line, out)
    assert [r.value for r in out] == [Decimal("12.34")] * 2


async def test_a_port_that_cannot_be_opened_is_a_transport_error() -> None:
    reader = Dlt645Reader("000000000161", [DI_FORWARD_ACTIVE_TOTAL])
    bus = Bus(LineSpec("/dev/estatelink-no-such-tty", baudrate=9600), [MeterSpec("m0", 1.0, reader)])
    with pytest.raises(TransportError, match="cannot open /dev/estatelink-no-such-tty"):
        await bus.adapter.run()


async def run_until_the_line_fails(serve, spec: MeterSpec) -> Bus:
    """Run a bus of one meter on a serial-to-Ethernet server played by `serve`, until its line fails."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bus = Bus(LineSpec(f"tcp://127.0.0.1:{port}", baudrate=9600), [spec])
    try:
        with pytest.raises(TransportError, match="failed"):
            await asyncio.wait_for(bus.adapter.run(), 5)
    finally:
        server.close()
        await server.wait_closed()
    return bus


async def test_a_serial_server_that_hangs_up_is_a_transport_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    bus = await run_until_the_line_fails(
        hang_up, MeterSpec("m0", 0.1, Dlt645Reader("000000000161", [DI_FORWARD_ACTIVE_TOTAL], response_s=1.0)))
    assert bus.stats.state == "online"  # it had been up: the supervisor restarts it with a fresh backoff


async def test_readings_taken_before_the_line_fails_in_the_same_poll_reach_the_gateway() -> None:
    async def answer_once_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\x16")  # the first request, 00010000 to 000000000161
        writer.write(dlt645.encode_read_reply("000000000161", DI_FORWARD_ACTIVE_TOTAL, Decimal("12.34")))
        await writer.drain()
        await reader.readuntil(b"\x16")  # the second request: the serial server goes away instead
        writer.close()

    reader = Dlt645Reader("000000000161", [DI_FORWARD_ACTIVE_TOTAL, DI_VOLTAGE_A], response_s=1.0)
    bus = await run_until_the_line_fails(answer_once_then_hang_up, MeterSpec("m0", 10.0, reader))
    assert bus.values("m0") == ["12.34"]  # read before the line failed: kept, as MeterReader.poll promises
