"""Simulated OSDP readers on a real pseudo-terminal, built on libosdp's PeripheralDevice, for tests and bench runs.

`python -m simulators.osdp_reader --link /tmp/osdp0 --address 0 --scbk-file reader.key` makes a pty whose slave
end behaves like an RS-485 line with an OSDP reader on it; point an osdp_bus device at the link (or at the
printed path). Each reader is a real libosdp PD: it answers the control panel, runs the secure channel,
presents cards, reports tamper and power, and records the LED, tone, output and key commands it receives.
It misbehaves on demand: noise written onto the line, silence (it neither hears nor answers), slow replies.
Without a key a reader is in install mode: it accepts the default SCBK-D until a control panel gives it a key.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import select
import sys
import threading
import time
import tty
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import osdp_sys
from osdp import Capability, CardFormat, Command, Event, LibFlag, LogLevel, StatusReportType

from drivers.wiegand.codec import LAYOUTS, encode_bits
from simulators.cli_support import bounded, point_link, remove_link

TICK_S = 0.002
"""Time between the simulated readers' refresh() calls."""
PD_ID = {"version": 1, "model": 1, "vendor_code": 0x00E57A, "serial_number": 0x5EED, "firmware_version": 0x010203}


class SimulatedReader:
    """One OSDP PD on a simulated bus; read `commands` (or leds, buzzes, outputs) to see what reached it."""

    def __init__(self, bus: PtyOsdpBus, address: int, scbk: bytes | None, *, outputs: int) -> None:
        self.address = address
        self.scbk = scbk
        """The key the reader holds: None while in install mode, until a control panel gives it one."""
        self.commands: list[dict[str, Any]] = []
        self.silent = False
        """While True the reader neither hears the line nor answers."""
        self.reply_delay_s = 0.0
        """Each reply leaves this long after the reader made it; OSDP allows a PD 200 ms."""
        self._bus = bus
        self.rx = bytearray()
        info = {"name": f"sim-{address}", "address": address, "channel": _PdChannel(self), **PD_ID,
                "flags": 0 if scbk is not None else LibFlag.InstallMode}
        if scbk is not None:
            info["scbk"] = scbk
        capabilities = [(Capability.LEDControl, 1, 1), (Capability.AudibleControl, 1, 1),
                        (Capability.OutputControl, 1, outputs), (Capability.CommunicationSecurity, 1, 1)]
        self._pd: Any = osdp_sys.PeripheralDevice(info, capabilities=[
            {"function_code": code, "compliance_level": level, "num_items": items}
            for code, level, items in capabilities])
        self._pd.set_command_callback(self._on_command)

    @property
    def online(self) -> bool:
        """Whether the reader counts its control panel as present."""
        with self._bus.lock:
            return self._pd is not None and bool(self._pd.is_online())

    @property
    def secure(self) -> bool:
        """Whether a secure channel session is up."""
        with self._bus.lock:
            return self._pd is not None and bool(self._pd.is_sc_active())

    def leds(self) -> list[dict[str, Any]]:
        """The LED commands received so far."""
        return [c for c in self.commands if c["command"] == Command.LED]

    def buzzes(self) -> list[dict[str, Any]]:
        """The buzzer commands received so far."""
        return [c for c in self.commands if c["command"] == Command.Buzzer]

    def outputs(self) -> list[dict[str, Any]]:
        """The output commands received so far."""
        return [c for c in self.commands if c["command"] == Command.Output]

    def present_wiegand(self, facility: int, number: int, bits: int = 26) -> None:
        """Present a card whose Wiegand frame (parity included) carries facility and number."""
        self.present_bits(encode_bits(facility, number, bits), bits)

    def present_bits(self, value: int, bits: int, fmt: int = CardFormat.Wiegand) -> None:
        """Present a raw card read of `bits` bits (right or wrong parity), in libosdp card format `fmt`."""
        size = -(-bits // 8)
        data = (value << (size * 8 - bits)).to_bytes(size, "big")
        self._submit({"event": Event.CardRead, "reader_no": 0, "format": fmt, "direction": 0, "length": bits,
                      "data": data})

    def press_keys(self, keys: str) -> None:
        """Report keys pressed on the reader's keypad ("0"-"9", "*", "#")."""
        codes = {"*": 0x7F, "#": 0x0D}
        self._submit({"event": Event.KeyPress, "reader_no": 0,
                      "data": bytes(codes.get(key, ord(key)) for key in keys)})

    def report_status(self, *, tamper: bool, power_failure: bool) -> None:
        """Report the reader's tamper switch and power supply."""
        self._submit({"event": Event.Status, "type": StatusReportType.Local, "nr_entries": 2,
                      "report": bytes((int(tamper), int(power_failure)))})

    def _submit(self, event: dict[str, Any]) -> None:
        with self._bus.lock:
            if self._pd is None or not self._pd.submit_event(event):
                raise RuntimeError(f"simulated reader {self.address} would not queue the event")

    def _on_command(self, command: dict[str, Any]) -> tuple[int, None]:
        self.commands.append(command)
        if command.get("command") == Command.Keyset:
            self.scbk = bytes(command["data"])  # libosdp switches to the new key itself; this is for tests
        return 0, None

    def _close(self) -> None:
        self._pd = None  # libosdp's teardown


class _PdChannel:
    """A simulated reader's side of the line: what the bus thread gave it to hear, and its way to answer."""

    def __init__(self, reader: SimulatedReader) -> None:
        self._reader = reader

    def read(self, max_bytes: int) -> bytes:
        data = bytes(self._reader.rx[:max_bytes])
        del self._reader.rx[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        self._reader._bus.reply(self._reader, bytes(buf))
        return len(buf)

    def flush(self) -> None:
        self._reader.rx.clear()


class PtyOsdpBus:
    """The reader end of a pseudo-terminal pair with simulated OSDP readers; `port` is the path a driver opens."""

    def __init__(self, readers: Mapping[int, bytes | None], *, outputs: int = 2) -> None:
        master, slave = os.openpty()
        try:
            tty.setraw(master)
            tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged
            os.set_blocking(master, False)
            self.port = os.ttyname(slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        # Holding our own slave fd keeps the pty (and its raw settings) alive while drivers reopen it.
        self._master: int | None = master
        self._slave: int | None = slave
        self.lock = threading.RLock()
        self._delayed: list[tuple[float, bytes]] = []
        osdp_sys.set_loglevel(LogLevel.Warning)
        self.readers = {address: SimulatedReader(self, address, scbk, outputs=outputs)
                        for address, scbk in readers.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"osdp-sim:{self.port}", daemon=True)
        self._thread.start()

    def reader(self, address: int) -> SimulatedReader:
        """The simulated reader at `address`."""
        return self.readers[address]

    def write_noise(self, data: bytes) -> None:
        """Write bytes onto the line as they are, between the readers' replies."""
        with self.lock:
            self._write(data)

    def reply(self, reader: SimulatedReader, data: bytes) -> None:
        """Send a reader's reply: dropped while it is silent, held back while it answers slowly."""
        if reader.silent:
            return
        if reader.reply_delay_s > 0:
            self._delayed.append((time.monotonic() + reader.reply_delay_s, data))
        else:
            self._write(data)

    def close(self) -> None:
        """Stop the readers and close both ends; a driver reading the slave sees the line hang up."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def __enter__(self) -> PtyOsdpBus:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self.lock:
                    heard = self._read()
                    for reader in self.readers.values():
                        if not reader.silent:
                            reader.rx.extend(heard)
                        reader._pd.refresh()
                    now = time.monotonic()
                    while self._delayed and self._delayed[0][0] <= now:
                        self._write(self._delayed.pop(0)[1])
                self._stop.wait(TICK_S)
        finally:
            with self.lock:
                for reader in self.readers.values():
                    reader._close()

    def _read(self) -> bytes:
        assert self._master is not None
        chunks = []
        while select.select([self._master], [], [], 0)[0]:
            try:
                chunk = os.read(self._master, 4096)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        with contextlib.suppress(BlockingIOError):  # nobody drains the line: the bytes are lost, as on a wire
            os.write(self._master, data)


def read_key(path: Path | None, env: str | None) -> bytes | None:
    """A 16-byte key from a file or an environment variable, as 32 hex digits; None for neither (install mode)."""
    if path is None and env is None:
        return None
    text = path.read_text(encoding="ascii") if path is not None else os.environ.get(env or "", "")
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 16:
        raise ValueError(f"the key in {path or '$' + str(env)} is not 32 hex digits")
    return key


def demo_cards(bits: int, count: int) -> list[tuple[int, int]]:
    """The same `count` (facility, number) cards every run, valid for `bits`-bit frames."""
    facility_limit = 1 << LAYOUTS[bits].facility_bits
    return [((18 + i * 37) % facility_limit, (12345 + i * 7919) % 65536) for i in range(count)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the simulator's options."""
    parser.add_argument("--link", type=Path, help="symlink to create pointing at the pty slave")
    parser.add_argument("--address", type=bounded(int, 0, 126), default=0, help="the reader's OSDP address")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--scbk-file", type=Path, help="file holding the reader's SCBK as 32 hex digits")
    key.add_argument("--scbk-env", help="environment variable holding the SCBK (neither: install mode)")
    parser.add_argument("--bits", type=int, choices=sorted(LAYOUTS), default=26, help="Wiegand frame length")
    parser.add_argument("--rate", type=bounded(float, 1e-3, 100.0), default=1.0, help="card slots per second")
    parser.add_argument("--cards", type=bounded(int, 1, 1_000_000), default=5, help="distinct demo cards")
    parser.add_argument("--noise", type=bounded(float, 0.0, 1.0), default=0.0,
                        help="probability that a slot also writes noise onto the line")
    parser.add_argument("--silence", type=bounded(float, 0.0, 1.0), default=0.0,
                        help="probability that the reader is silent for a slot (it neither hears nor answers)")
    parser.add_argument("--slow", type=bounded(float, 0.0, 5.0), default=0.0, help="reply delay in seconds")
    parser.add_argument("--count", type=bounded(int, 0, 10**9), default=0,
                        help="stop after this many slots (0: run until interrupted)")
    parser.add_argument("--seed", type=int, default=None, help="seed for noise and silence, for repeatable runs")


async def run(args: argparse.Namespace) -> None:
    """Play an OSDP reader on a pty until cancelled (or `count` slots have passed), a card every 1/rate s."""
    rng = random.Random(args.seed)
    cards = demo_cards(args.bits, args.cards)
    key = read_key(args.scbk_file, args.scbk_env)
    loop = asyncio.get_running_loop()
    with PtyOsdpBus({args.address: key}) as bus:
        reader = bus.reader(args.address)
        reader.reply_delay_s = args.slow
        if args.link is not None:
            point_link(args.link, bus.port)
        try:
            print(bus.port, flush=True)
            start = loop.time()
            for n in itertools.count() if args.count == 0 else range(args.count):
                reader.silent = rng.random() < args.silence
                if rng.random() < args.noise:
                    bus.write_noise(rng.randbytes(rng.randint(1, 16)))
                if reader.online and not reader.silent:
                    reader.present_wiegand(*cards[n % len(cards)], args.bits)
                await asyncio.sleep(max(0.0, start + (n + 1) / args.rate - loop.time()))
        finally:
            if args.link is not None:
                remove_link(args.link, bus.port)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator from the command line; prints the pty path, stops on Ctrl-C or after --count slots."""
    parser = argparse.ArgumentParser(prog="python -m simulators.osdp_reader",
                                     description="A simulated OSDP reader on a pseudo-terminal.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        read_key(args.scbk_file, args.scbk_env)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
