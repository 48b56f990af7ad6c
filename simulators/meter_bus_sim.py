"""Several DL/T 645 or CJ/T 188 meters sharing one simulated RS-485 line, on a real pseudo-terminal.

Theory of operation: the sim holds the master end of a pty and a driver opens the slave (`port`). Every
byte the driver writes reaches every meter model of simulators.meter_responders, as on a bus: each keeps
its own decoder and answers only requests to its own address. With a baud rate the line is paced as in
simulators.modbus_meter: a request holds the line for its bytes × 11 / baud, the meter answers after its
response delay, and its reply holds the line for its own wire time and is written when its last byte
would have arrived, so a bench measures real bus time. Without one, replies go out at once.

Faults are per meter and may change while serving (`SimFault`): `silent` (the meter hears nothing),
`garble` (the probability that a reply goes out with its checksum inverted, as on a noisy line), `drop`
(the probability that a reply is lost) and `delay_ms` (a slow meter). The meters' counters move when told
(`advance`) or every `tick` seconds; a meter's own methods model rollover and replacement. Each complete
request is logged with the time its last byte crossed the line and the address it asked (`requests`).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tty
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from drivers.cjt188 import codec as cjt188
from drivers.dlt645 import codec as dlt645
from simulators.cli_support import bounded, point_link, remove_link
from simulators.meter_responders import Cjt188Meter, Dlt645Meter

BITS_PER_CHAR = 11
"""A character on the wire: start bit, 8 data bits, parity (or a second stop bit), stop bit."""

SimMeter = Dlt645Meter | Cjt188Meter


@dataclass(frozen=True, slots=True)
class SimFault:
    """How one meter misbehaves: no answer at all, answers lost or garbled at some rate, or late answers."""

    silent: bool = False
    garble: float = 0.0
    drop: float = 0.0
    delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if not (0 <= self.garble <= 1 and 0 <= self.drop <= 1 and self.delay_ms >= 0):
            raise ValueError(f"garble and drop are probabilities and delay_ms is not negative: {self}")


class MeterBusSim:
    """Meters of one protocol on a pty line; `async with` it, or start() and aclose()."""

    def __init__(self, meters: Iterable[SimMeter], *, baudrate: int | None = None, response_ms: float = 0.0,
                 seed: int | None = None, tick: float | None = None) -> None:
        self.meters = list(meters)
        kinds = {type(meter) for meter in self.meters}
        if len(kinds) != 1:
            raise ValueError("a line's meters all speak one protocol (DL/T 645 or CJ/T 188)")
        if len({meter.address for meter in self.meters}) != len(self.meters):
            raise ValueError("two meters on one line share an address")
        if baudrate is not None and baudrate <= 0:
            raise ValueError(f"baudrate must be positive, not {baudrate}")
        self.baudrate, self.response_s, self.tick = baudrate, response_ms / 1000, tick
        self._faults = [SimFault() for _ in self.meters]
        self._rng = random.Random(seed)
        self._listener = dlt645.Dlt645Decoder() if kinds == {Dlt645Meter} else cjt188.Cjt188Decoder()
        self.requests: list[tuple[float, str]] = []
        """(time the request's last byte crossed the line, address it asked), for every complete request."""
        self.busy = 0.0
        """Seconds the paced line has carried bytes."""
        self.port: str | None = None
        self._fds: tuple[int, int] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._free_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> str:
        """Open the pty and start serving; return the slave path (also `port`)."""
        if self._fds is not None:
            raise RuntimeError("already serving")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged
            os.set_blocking(master, False)
            self.port = os.ttyname(slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        # Holding our own slave fd keeps the pty (and its raw settings) alive while drivers reopen it.
        self._fds = (master, slave)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(master, self._read_ready)
        if self.tick:
            self._later(self.tick, self._on_tick)
        return self.port

    async def aclose(self) -> None:
        """Stop serving, drop replies not yet sent, close the pty."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        if self._fds is not None:
            master, slave = self._fds
            self._fds = None
            assert self._loop is not None
            self._loop.remove_reader(master)
            os.close(master)
            os.close(slave)

    async def __aenter__(self) -> MeterBusSim:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def meter(self, address: str) -> SimMeter:
        """The meter that has `address` now."""
        return self.meters[self._index(address)]

    def set_fault(self, address: str, fault: SimFault) -> None:
        """Make a meter misbehave from its next request on; SimFault() restores it."""
        self._faults[self._index(address)] = fault

    def advance(self, steps: int = 1) -> None:
        """Move every meter's counter on by `steps` of its step (rolling over as the meter would)."""
        for meter in self.meters:
            meter.advance(steps)

    def _index(self, address: str) -> int:
        for index, meter in enumerate(self.meters):
            if meter.address == address.upper():
                return index
        raise KeyError(f"no meter at {address}; addresses: {[m.address for m in self.meters]}")

    def _later(self, delay: float, callback: Callable[..., object], *args: object) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            callback(*args)
        assert self._loop is not None
        handle = self._loop.call_later(max(0.0, delay), fire)
        self._timers.add(handle)

    def _on_tick(self) -> None:
        self.advance()
        self._later(self.tick or 0.0, self._on_tick)

    def _occupy(self, start: float, size: int) -> float:
        """Book the line for `size` bytes from `start` (or when it is free); return when they are through."""
        wire = size * BITS_PER_CHAR / self.baudrate if self.baudrate else 0.0
        self._free_at = max(start, self._free_at) + wire
        self.busy += wire
        return self._free_at

    def _read_ready(self) -> None:
        assert self._fds is not None and self._loop is not None
        try:
            data = os.read(self._fds[0], 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the driver closed the slave end while we held it: nothing to read
            return
        now = self._loop.time()
        heard = self._occupy(now, len(data))
        for frame in self._listener.feed(data):
            if isinstance(frame, (dlt645.ReadRequest, cjt188.ReadRequest)):
                self.requests.append((heard, frame.address))
        for meter, fault in zip(self.meters, self._faults):
            reply = meter.respond(data)  # every meter hears every byte, so each decoder stays in step
            if reply is None or fault.silent or self._rng.random() < fault.drop:
                continue
            if self._rng.random() < fault.garble:
                reply = reply[:-2] + bytes((reply[-2] ^ 0xFF, reply[-1]))
            start = heard + self.response_s + fault.delay_ms / 1000
            if self.baudrate:
                done = self._occupy(start, len(reply))
                self._later(done - now, self._write, reply)
            elif start > now:
                self._later(start - now, self._write, reply)
            else:
                self._write(reply)

    def _write(self, data: bytes) -> None:
        if self._fds is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):  # nobody drains the line: the reply is lost
            os.write(self._fds[0], data)


def demo_meters(protocol: str, count: int) -> list[SimMeter]:
    """`count` meters with addresses 1, 2, ... and distinct start readings."""
    if protocol == "dlt645":
        return [Dlt645Meter(address=f"{i + 1:012d}", energy=Decimal("1000.00") + Decimal("111.11") * i)
                for i in range(count)]
    return [Cjt188Meter(address=f"{i + 1:014d}", volume=Decimal("10.00") + Decimal("3.33") * i)
            for i in range(count)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `estatelink sim meter-bus`."""
    parser.add_argument("--protocol", choices=["dlt645", "cjt188"], default="dlt645", help="what the meters speak")
    parser.add_argument("--meters", type=bounded(int, 1, 250), default=4, help="meters on the line (addresses 1..N)")
    parser.add_argument("--link", type=Path, help="symlink to create pointing at the pty slave")
    parser.add_argument("--baud", type=bounded(int, 300, 115200), help="pace the line like a real one at this baud")
    parser.add_argument("--tick", type=bounded(float, 0.0, 86400.0), default=1.0,
                        help="advance every counter every TICK seconds (0: never)")
    parser.add_argument("--silent", type=bounded(int, 1, 250), action="append", default=[], metavar="N",
                        help="meter N never answers (repeatable)")
    parser.add_argument("--garble", type=bounded(float, 0.0, 1.0), default=0.0,
                        help="probability that a reply goes out with a bad checksum")
    parser.add_argument("--drop", type=bounded(float, 0.0, 1.0), default=0.0, help="probability that a reply is lost")
    parser.add_argument("--delay-ms", type=bounded(float, 0.0, 10000.0), default=0.0,
                        help="every meter answers this much later")
    parser.add_argument("--seed", type=int, default=None, help="seed for garbling and dropping, for repeatable runs")


async def run(args: argparse.Namespace) -> None:
    """Serve the demo meters until cancelled, printing the pty path and the meters' addresses."""
    meters = demo_meters(args.protocol, args.meters)
    async with MeterBusSim(meters, baudrate=args.baud, seed=args.seed, tick=args.tick or None) as sim:
        for index, meter in enumerate(meters, start=1):
            sim.set_fault(meter.address, SimFault(silent=index in args.silent, garble=args.garble, drop=args.drop,
                                                  delay_ms=args.delay_ms))
        assert sim.port is not None
        if args.link is not None:
            point_link(args.link, sim.port)
        try:
            print(sim.port, flush=True)
            print(f"{args.protocol} meters: {' '.join(m.address for m in meters)}", flush=True)
            await asyncio.get_running_loop().create_future()
        finally:
            if args.link is not None:
                remove_link(args.link, sim.port)


def main(argv: list[str] | None = None) -> int:
    """`python -m simulators.meter_bus_sim --protocol dlt645 --meters 4`: serve meters on a pty until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m simulators.meter_bus_sim", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
