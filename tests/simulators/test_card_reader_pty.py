"""The ASCII reader adapter against a simulated reader on a real pty, and against a local TCP server."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.ascii_reader import AsciiReaderAdapter, encode_em4100, mask_card
from drivers.base import DeviceEvent, DriverStats, TransportError
from simulators import card_reader
from simulators.card_reader import PtyCardReader, demo_cards
from tests.support.leftovers import no_leftovers  # noqa: F401  (autouse)

TIMEOUT = 5.0


@pytest.fixture
def sim() -> Iterator[PtyCardReader]:
    with PtyCardReader() as reader:
        yield reader


class Harness:
    """Runs an adapter in a task and collects what it emits."""

    def __init__(self, port: str, **options: Any) -> None:
        self.events: asyncio.Queue[DeviceEvent] = asyncio.Queue()
        self.stats = DriverStats()
        self.adapter = AsciiReaderAdapter("gate-1", port, emit=self.events.put, stats=self.stats, **options)
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


async def test_good_frames_arrive_in_order(sim: PtyCardReader) -> None:
    reader = Harness(sim.port)
    await reader.online()  # opening the port flushes its input, so write only after
    for card in ("62E3086CED", "1a00c3d5e7", "0000000001"):
        sim.write_frame(card)
    first = await asyncio.wait_for(reader.events.get(), TIMEOUT)
    assert first == DeviceEvent("card.read", {"card": "62E3086CED", "format": "em4100", "id_decimal": 3808980205})
    assert await reader.next_cards(2) == ["1A00C3D5E7", "0000000001"]
    assert (reader.stats.frames_ok, reader.stats.frames_rejected) == (3, 0)
    await reader.stop()


async def test_corrupted_frames_are_counted_and_skipped(sim: PtyCardReader,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    reader = Harness(sim.port)
    await reader.online()
    sim.write_frame("62E3086CED")
    sim.write_raw(b"\x0262E3086CED09\x03")  # bad checksum
    sim.write_raw(b"\xff\x00garbage")  # noise between frames
    sim.write_raw(encode_em4100("1A00C3D5E7")[:7])  # cut short by the next frame's STX
    sim.write_frame("1A00C3D5E7")
    assert await reader.next_cards(2) == ["62E3086CED", "1A00C3D5E7"]
    assert reader.stats.rejections == {"bad_checksum": 1, "noise": 1, "truncated": 1}
    assert reader.stats.frames_ok == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "drivers.ascii_reader" and r.levelname == "WARNING"]
    assert len(warnings) == 3
    assert not any("3086CED" in message for message in warnings)  # no card number above DEBUG
    await reader.stop()


async def test_decimal_line_reader() -> None:
    with PtyCardReader("decimal_line") as sim:
        reader = Harness(sim.port, fmt="decimal_line", min_digits=6, max_digits=10)
        await reader.online()
        sim.write_frame("0012345678")
        sim.write_raw(b"12345\r\n12x456\r\n")
        sim.write_frame("987654")
        first = await asyncio.wait_for(reader.events.get(), TIMEOUT)
        assert first.data == {"card": "0012345678", "format": "decimal_line"}
        assert await reader.next_cards(1) == ["987654"]
        assert reader.stats.rejections == {"bad_length": 1, "not_digits": 1}
        await reader.stop()


async def test_closing_the_pty_raises_transport_error(sim: PtyCardReader) -> None:
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
    peer.write(encode_em4100("62E3086CED")[:5])
    await peer.drain()
    peer.write(encode_em4100("62E3086CED")[5:] + b"\x0262E3086CED00\x03" + encode_em4100("1A00C3D5E7"))
    await peer.drain()
    assert await reader.next_cards(2) == ["62E3086CED", "1A00C3D5E7"]
    assert reader.stats.rejections == {"bad_checksum": 1}
    peer.close()  # the converter drops the connection
    await peer.wait_closed()
    with pytest.raises(TransportError, match="end of stream"):
        await asyncio.wait_for(reader.task, TIMEOUT)
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("port", ["tcp://host", "tcp://:4001", "tcp://host:notaport"])
def test_bad_tcp_port(port: str) -> None:
    async def emit(_: DeviceEvent) -> None: ...

    with pytest.raises(ValueError, match="tcp://host:port"):
        AsciiReaderAdapter("gate-1", port, emit=emit)


def test_write_does_not_block_when_nobody_reads() -> None:
    with PtyCardReader(write_timeout=0.05) as sim, pytest.raises(TimeoutError, match="nothing is reading"):
        for _ in range(100_000):
            sim.write_frame("62E3086CED")


def _sim_args(link: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    card_reader.add_arguments(parser)
    return parser.parse_args(["--link", str(link), "--rate", "100", "--cards", "3", *extra])


async def test_cli_runner_cycles_demo_cards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "reader0"
    link.symlink_to("/nonexistent")  # a stale link from an earlier run is replaced
    runner = asyncio.create_task(card_reader.run(_sim_args(link)))
    await until(lambda: link.exists())
    reader = Harness(str(link))
    await reader.online()
    cards = await reader.next_cards(4)
    demo = demo_cards("em4100", 3)
    assert cards == [demo[(demo.index(cards[0]) + i) % 3] for i in range(4)]
    await reader.stop()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert not os.path.lexists(link)
    assert capsys.readouterr().out.startswith("/dev/pts/")


async def test_cli_runner_garbles(tmp_path: Path) -> None:
    link = tmp_path / "reader0"
    runner = asyncio.create_task(card_reader.run(_sim_args(link, "--garble", "1", "--seed", "7")))
    await until(lambda: link.exists())
    reader = Harness(str(link))
    await reader.online()
    await until(lambda: reader.stats.frames_rejected >= 5)
    assert reader.stats.frames_ok == 0
    assert set(reader.stats.rejections) <= {"bad_checksum", "truncated", "noise"}
    await reader.stop()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


def test_cli_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _sim_args(tmp_path / "x", "--garble", "1.5")


async def test_repeated_rejections_are_logged_quietly(sim: PtyCardReader, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="drivers.ascii_reader")
    reader = Harness(sim.port)
    await reader.online()
    sim.write_raw(b"\x0262E3086CED09\x03" * 200)
    sim.write_frame("62E3086CED")
    assert await reader.next_cards(1) == ["62E3086CED"]
    assert reader.stats.rejections == {"bad_checksum": 200}
    ours = [r for r in caplog.records if r.name == "drivers.ascii_reader"]
    assert [r.getMessage().rsplit("(", 1)[1] for r in ours if r.levelname == "WARNING"] == [
        "1 so far)", "100 so far)", "200 so far)"]
    assert "card ******6CED" in [r.getMessage().split(": ", 1)[1] for r in ours if r.levelname == "DEBUG"]
    await reader.stop()


def test_mask_card() -> None:
    assert [mask_card(c) for c in ("62E3086CED", "12345", "1234", "")] == ["******6CED", "*2345", "****", ""]
