"""The simulated OSDP reader's command line: demo cards over a pty link, noise, silence, and its options."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from drivers.osdp import ReaderSpec
from simulators import osdp_reader
from simulators.osdp_reader import demo_cards
from tests.osdp.conftest import KEY
from tests.osdp.harness import Harness, until


def _sim_args(link: Path, key_file: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    osdp_reader.add_arguments(parser)
    return parser.parse_args(["--link", str(link), "--scbk-file", str(key_file), "--address", "3", "--rate", "20",
                              "--cards", "3", *extra])


async def _stop(runner: asyncio.Task[None]) -> None:
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "reader.key"
    path.write_text(KEY.hex() + "\n")
    return path


async def test_cli_runner_presents_demo_cards(tmp_path: Path, key_file: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "osdp0"
    link.symlink_to("/nonexistent")  # a stale link from an earlier run is replaced
    runner = asyncio.create_task(osdp_reader.run(_sim_args(link, key_file, "--bits", "34")))
    await until(lambda: link.exists())
    bus = Harness(str(link), [ReaderSpec("gate", 3, KEY)])
    await bus.online("gate")
    cards = [(await bus.next("card.read")).data["card"] for _ in range(4)]
    demo = [f"{facility * 65536 + number:010d}" for facility, number in demo_cards(34, 3)]
    assert cards == [demo[(demo.index(cards[0]) + i) % 3] for i in range(4)]
    await bus.stop()
    await _stop(runner)
    assert not os.path.lexists(link)
    assert capsys.readouterr().out.startswith("/dev/pts/")


async def test_cli_runner_noise_is_counted_and_cards_still_arrive(tmp_path: Path, key_file: Path) -> None:
    link = tmp_path / "osdp0"
    runner = asyncio.create_task(osdp_reader.run(_sim_args(link, key_file, "--noise", "1", "--seed", "7")))
    await until(lambda: link.exists())
    bus = Harness(str(link), [ReaderSpec("gate", 3, KEY)])
    await until(lambda: bus.stats.frames_rejected >= 5, timeout=25)
    await bus.next("card.read", timeout=25)
    assert set(bus.stats.rejections) <= {"noise", "bad_length", "bad_check"}
    await bus.stop()
    await _stop(runner)


def test_main_runs_count_slots_and_returns(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert osdp_reader.main(["--count", "3", "--rate", "100", "--scbk-file", str(key_file), "--silence", "1"]) == 0
    assert capsys.readouterr().out.startswith("/dev/pts/")


@pytest.mark.parametrize("option", [
    ["--address", "127"], ["--noise", "1.5"], ["--bits", "37"], ["--scbk-env", "NO_SUCH_OSDP_KEY_VAR"],
    ["--scbk-file", "/nonexistent/reader.key"], ["--scbk-env", "X", "--scbk-file", "y"]])
def test_cli_rejects_bad_options(option: list[str]) -> None:
    with pytest.raises(SystemExit):
        osdp_reader.main(option)
