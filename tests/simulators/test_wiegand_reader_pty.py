"""The Wiegand adapter against a simulated converter on a real pty (and once on a local TCP server)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DeviceEvent, DriverStats, TransportError
from drivers.wiegand import BINARY_STX, DECIMAL_LINE_FC, FORMATS, HEX_LINE, WiegandReaderAdapter, encode_frame
from simulators import wiegand_reader
from simulators.wiegand_reader import PtyWiegandReader, demo_cards
from tests.support.leftovers import no_leftovers  # noqa: F401  (autouse)

TIMEOUT = 5.0


class Harness:
    """Runs an adapter in a task and collects what it emits."""

    def __init__(self, port: str, **options: Any) -> None:
        self.events: asyncio.Queue[DeviceEvent] = asyncio.Queue()
        self.stats = DriverStats()
        self.adapter = WiegandReaderAdapter("gate-w", port, emit=self.events.put, stats=self.stats, **options)
        self.task = asyncio.create_task(self.adapter.run())

    async def online(self) -> None:
        await until(lambda: self.stats.state == "online" or self.task.done())
        assert self.stats.state == "online"

    async def next_cards(self, count: int) -> list[str]:
        return [(await asyncio.wait_for(self.events.get(), TIMEOUT)).data["card"] for _ in range(count)]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a condition that no event announces, checking often, for at most TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.005)


async def test_good_card_is_emitted_with_its_fields() -> None:
    with PtyWiegandReader(HEX_LINE, bits=26) as sim:
        reader = Harness(sim.port, fmt=HEX_LINE)
        await reader.online()  # opening the port flushes its input, so write only after
        sim.write_card(18, 12345)
        event = await asyncio.wait_for(reader.events.get(), TIMEOUT)
        assert event == DeviceEvent("card.read", {
            "card": "0001191993", "format": "hex_line", "reader": "wiegand", "facility": 18, "number": 12345,
            "id_decimal": 1191993, "bits": 26})
        assert (reader.stats.frames_ok, reader.stats.frames_rejected) == (1, 0)
        await reader.stop()


@pytest.mark.parametrize("fmt", [HEX_LINE, BINARY_STX])
@pytest.mark.parametrize("bits", [26, 34])
async def test_bad_parity_is_counted_and_skipped(fmt: str, bits: int, caplog: pytest.LogCaptureFixture) -> None:
    with PtyWiegandReader(fmt, bits=bits) as sim:
        reader = Harness(sim.port, fmt=fmt)
        await reader.online()
        sim.write_card(18, 12345)
        sim.write_bad_parity(18, 12346, "even")
        sim.write_bad_parity(18, 12346, "odd")
        sim.write_card(19, 4242)
        assert await reader.next_cards(2) == ["0001191993", "0001249426"]
        assert reader.stats.rejections == {"bad_parity": 2}
        assert reader.stats.frames_ok == 2
        warnings = [r.getMessage() for r in caplog.records if r.name == "drivers.wiegand" and r.levelname == "WARNING"]
        assert len(warnings) == 1  # the first of a reason loudly, repeats quietly
        assert not any("12346" in message or "1191994" in message for message in warnings)
        await reader.stop()


async def test_noise_and_truncated_frames_are_counted_and_skipped() -> None:
    with PtyWiegandReader(BINARY_STX, bits=34) as sim:
        reader = Harness(sim.port, fmt=BINARY_STX, bits=34)
        await reader.online()
        sim.write_raw(b"\xff\x00garbage")
        sim.write_raw(encode_frame(BINARY_STX, 1001, 54321, 34)[:5])  # cut short by the next frame's STX
        sim.write_card(1001, 54321)
        sim.write_raw(encode_frame(BINARY_STX, 18, 12345, 26))  # a length this device is not set for
        sim.write_card(7, 7)
        assert await reader.next_cards(2) == ["0065655857", "0000458759"]
        assert reader.stats.rejections == {"noise": 1, "truncated": 1, "bad_length": 1}
        await reader.stop()


async def test_decimal_line_fc_reader() -> None:
    with PtyWiegandReader(DECIMAL_LINE_FC, bits=26) as sim:
        reader = Harness(sim.port, fmt=DECIMAL_LINE_FC, bits=26)
        await reader.online()
        sim.write_card(18, 12345)
        sim.write_raw(b"300,1\r\n?junk\r\n0001191993\r\n")
        first = await asyncio.wait_for(reader.events.get(), TIMEOUT)
        assert first.data == {"card": "0001191993", "format": "decimal_line_fc", "reader": "wiegand",
                              "facility": 18, "number": 12345, "id_decimal": 1191993, "bits": 26}
        assert await reader.next_cards(1) == ["0001191993"]
        assert reader.stats.rejections == {"out_of_range": 1, "noise": 1}
        with pytest.raises(ValueError, match="carries no parity"):
            sim.write_bad_parity(18, 12345)
        await reader.stop()


async def test_closing_the_pty_raises_transport_error() -> None:
    sim = PtyWiegandReader()
    reader = Harness(sim.port)
    await reader.online()
    sim.close()
    with pytest.raises(TransportError, match=sim.port):
        await asyncio.wait_for(reader.task, TIMEOUT)


async def test_missing_port_raises_transport_error(tmp_path: Path) -> None:
    reader = Harness(str(tmp_path / "ttyNONE"))
    with pytest.raises(TransportError, match="cannot open"):
        await asyncio.wait_for(reader.task, TIMEOUT)
    assert reader.stats.state == "starting"


async def test_tcp_port() -> None:
    connected: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set_result(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    reader = Harness(f"tcp://{host}:{port}")
    peer = await asyncio.wait_for(connected, TIMEOUT)
    await reader.online()
    peer.write(b"0246")
    await peer.drain()
    peer.write(b"073\r\n0246072\r\n207D3A862\r\n")
    await peer.drain()
    assert await reader.next_cards(2) == ["0001191993", "0065655857"]
    assert reader.stats.rejections == {"bad_parity": 1}
    peer.close()  # the converter drops the connection
    await peer.wait_closed()
    with pytest.raises(TransportError, match="end of stream"):
        await asyncio.wait_for(reader.task, TIMEOUT)
    server.close()
    await server.wait_closed()


def test_bad_options_fail_at_construction() -> None:
    async def emit(_: DeviceEvent) -> None: ...

    with pytest.raises(ValueError, match="tcp://host:port"):
        WiegandReaderAdapter("gate-w", "tcp://host", emit=emit)
    with pytest.raises(ValueError, match="unknown Wiegand converter format"):
        WiegandReaderAdapter("gate-w", "/dev/null", fmt="em4100", emit=emit)
    with pytest.raises(ValueError, match="26, 34"):
        WiegandReaderAdapter("gate-w", "/dev/null", bits=37, emit=emit)
    with pytest.raises(ValueError, match="26, 34"):
        PtyWiegandReader(bits=37)


def _sim_args(link: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    wiegand_reader.add_arguments(parser)
    return parser.parse_args(["--link", str(link), "--rate", "100", "--cards", "3", *extra])


async def _stop(runner: asyncio.Task[None]) -> None:
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_cli_runner_cycles_demo_cards(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "wiegand0"
    link.symlink_to("/nonexistent")  # a stale link from an earlier run is replaced
    runner = asyncio.create_task(wiegand_reader.run(_sim_args(link, "--format", fmt, "--bits", "34")))
    await until(lambda: link.exists())
    reader = Harness(str(link), fmt=fmt)
    await reader.online()
    cards = await reader.next_cards(4)
    demo = [f"{facility * 65536 + number:010d}" for facility, number in demo_cards(34, 3)]
    assert cards == [demo[(demo.index(cards[0]) + i) % 3] for i in range(4)]
    await reader.stop()
    await _stop(runner)
    assert not os.path.lexists(link)
    assert capsys.readouterr().out.startswith("/dev/pts/")


@pytest.mark.parametrize(("fmt", "reasons"), [
    (HEX_LINE, {"bad_parity", "bad_length", "noise"}),
    (DECIMAL_LINE_FC, {"out_of_range", "noise"}),
    (BINARY_STX, {"bad_parity", "truncated", "noise"}),
])
async def test_cli_runner_garbles(fmt: str, reasons: set[str], tmp_path: Path) -> None:
    link = tmp_path / "wiegand0"
    runner = asyncio.create_task(wiegand_reader.run(_sim_args(link, "--format", fmt, "--garble", "1", "--seed", "7")))
    await until(lambda: link.exists())
    reader = Harness(str(link), fmt=fmt)
    await reader.online()
    await until(lambda: reader.stats.frames_rejected >= 8)
    assert reader.stats.frames_ok == 0
    assert set(reader.stats.rejections) <= reasons
    await reader.stop()
    await _stop(runner)


async def test_cli_runner_silence_sends_nothing(tmp_path: Path) -> None:
    link = tmp_path / "wiegand0"
    runner = asyncio.create_task(wiegand_reader.run(_sim_args(link, "--silence", "1", "--count", "20", "--rate", "20")))
    await until(lambda: link.exists())
    reader = Harness(str(link))
    await reader.online()
    await asyncio.wait_for(runner, TIMEOUT)  # --count ends the run; the pty closes
    with pytest.raises(TransportError):
        await asyncio.wait_for(reader.task, TIMEOUT)
    assert (reader.stats.frames_ok, reader.stats.frames_rejected) == (0, 0)


def test_main_runs_count_slots_and_returns(capsys: pytest.CaptureFixture[str]) -> None:
    assert wiegand_reader.main(["--count", "3", "--rate", "1000", "--format", "binary_stx"]) == 0
    assert capsys.readouterr().out.startswith("/dev/pts/")


@pytest.mark.parametrize("option", [["--garble", "1.5"], ["--bits", "37"], ["--format", "em4100"]])
def test_cli_rejects_bad_options(option: list[str]) -> None:
    with pytest.raises(SystemExit):
        wiegand_reader.main(option)
