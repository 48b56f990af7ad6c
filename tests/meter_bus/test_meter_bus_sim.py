"""The meter bus simulator on a real pty: shared-line addressing, faults, pacing, and its command line."""
from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.cjt188 import codec as cjt188
from drivers.dlt645 import codec as dlt645
from estatelink.cli import build_parser, main
from simulators.meter_bus_sim import MeterBusSim, SimFault, demo_meters
from simulators.meter_responders import Cjt188Meter, Dlt645Meter


class Master:
    """The driver's end of the line, raw: write a request, collect what comes back for a while."""

    def __init__(self, port: str) -> None:
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    async def ask(self, request: bytes, listen: float = 0.2) -> bytes:
        os.write(self.fd, request)
        await asyncio.sleep(listen)
        with contextlib.suppress(BlockingIOError):
            return os.read(self.fd, 4096)
        return b""

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
async def dlt_line() -> AsyncIterator[tuple[MeterBusSim, Master]]:
    meters = [Dlt645Meter("000000000161", energy=Decimal("10.00")), Dlt645Meter("000000000162")]
    async with MeterBusSim(meters, seed=1) as sim:
        master = Master(sim.port or "")
        try:
            yield sim, master
        finally:
            master.close()


async def test_only_the_addressed_meter_answers(dlt_line: tuple[MeterBusSim, Master]) -> None:
    sim, master = dlt_line
    reply = await master.ask(dlt645.encode_read_request("000000000161", dlt645.DI_FORWARD_ACTIVE_TOTAL))
    (frame,) = dlt645.Dlt645Decoder().feed(reply)
    assert isinstance(frame, dlt645.ReadReply) and (frame.address, frame.value) == ("000000000161", Decimal("10.00"))
    assert await master.ask(dlt645.encode_read_request("000000000999", dlt645.DI_FORWARD_ACTIVE_TOTAL)) == b""
    assert [address for _, address in sim.requests] == ["000000000161", "000000000999"]


async def test_faults_per_meter(dlt_line: tuple[MeterBusSim, Master]) -> None:
    sim, master = dlt_line
    ask = dlt645.encode_read_request("000000000162", dlt645.DI_FORWARD_ACTIVE_TOTAL)
    sim.set_fault("000000000162", SimFault(silent=True))
    assert await master.ask(ask) == b""
    sim.set_fault("000000000162", SimFault(garble=1.0))
    assert [item.reason for item in dlt645.Dlt645Decoder().feed(await master.ask(ask))] == ["bad_checksum"]
    sim.set_fault("000000000162", SimFault(delay_ms=300))
    assert await master.ask(ask, listen=0.1) == b""
    await asyncio.sleep(0.3)
    assert isinstance(dlt645.Dlt645Decoder().feed(os.read(master.fd, 4096))[0], dlt645.ReadReply)
    with pytest.raises(ValueError):
        SimFault(garble=1.5)


async def test_the_line_is_paced_at_its_baud_rate() -> None:
    async with MeterBusSim([Cjt188Meter("00000000000001")], baudrate=1200) as sim:
        master = Master(sim.port or "")
        try:
            request = cjt188.encode_read_request(cjt188.COLD_WATER, "00000000000001")  # 20 bytes
            loop = asyncio.get_running_loop()
            started = loop.time()
            reply = await master.ask(request, listen=0.3)
            assert reply == b""  # 20 + 35 bytes at 1200 baud take 0.50 s
            while not reply:
                await asyncio.sleep(0.01)
                with contextlib.suppress(BlockingIOError):
                    reply = os.read(master.fd, 4096)
            took = loop.time() - started
        finally:
            master.close()
    assert isinstance(cjt188.Cjt188Decoder().feed(reply)[0], cjt188.MeterData)
    assert 0.50 <= took <= 0.50 + 0.2 and sim.busy == pytest.approx(55 * 11 / 1200)


async def test_counters_tick_and_meters_of_two_protocols_do_not_share_a_line() -> None:
    async with MeterBusSim(demo_meters("cjt188", 2), tick=0.05) as sim:
        await asyncio.sleep(0.2)
        assert all(meter.volume > start for meter, start in zip(sim.meters, (Decimal("10.00"), Decimal("13.33"))))
    with pytest.raises(ValueError, match="one protocol"):
        MeterBusSim([Dlt645Meter(), Cjt188Meter()])
    with pytest.raises(ValueError, match="share an address"):
        MeterBusSim([Dlt645Meter("000000000001"), Dlt645Meter("000000000001")])


async def test_the_command_line_serves_meters_on_a_linked_pty(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "meters"
    args = build_parser().parse_args(["sim", "meter-bus", "--protocol", "dlt645", "--meters", "3", "--link",
                                      str(link), "--silent", "2", "--tick", "0"])
    task = asyncio.create_task(args.sim_run(args))
    try:
        async with asyncio.timeout(5):
            while not link.is_symlink():
                await asyncio.sleep(0.01)
        master = Master(str(link))
        try:
            answered = [await master.ask(dlt645.encode_read_request(f"{n:012d}", dlt645.DI_FORWARD_ACTIVE_TOTAL))
                        for n in (1, 2, 3)]
        finally:
            master.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [bool(reply) for reply in answered] == [True, False, True]
    assert not link.exists()  # the link goes with the simulator
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("/dev/") and printed[1] == "dlt645 meters: 000000000001 000000000002 000000000003"


def test_the_modbus_meter_simulator_has_a_command_too(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["sim", "modbus-meter", "--rtu", "--baud", "9600"])
    assert (args.rtu, args.baud, args.tcp) == (True, 9600, None)
    assert main(["sim", "modbus-meter"]) == 2
    assert "give --tcp PORT, --rtu, or both" in capsys.readouterr().err
