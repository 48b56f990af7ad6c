"""Transactions per second on one 9600-baud meter bus, as a fraction of what the line allows.

    .venv/bin/python -m bench.meter_bus [--seconds 10] [--runs 3]

Each protocol's simulator runs in its own process on a pseudo-terminal and paces the line like a real one
at 9600 baud (a request and its reply each hold it for bytes × 11 / 9600 s, the reply written when its last
byte would have arrived): simulators.meter_bus_sim with 4 DL/T 645 meters, and simulators.modbus_meter with
its 3 demo units. The gateway's MeterBusAdapter polls them back to back (a 10 ms period keeps every meter
always due) with the minimal gap: 3.5 character times of silence before each request. Every transaction
reads one total-energy register: DL/T 645 DI 00010000 (a 20-byte request with its 4 wake-up bytes, a
20-byte reply), Modbus RTU a float32/uint32/bcd32 (2 registers: an 8-byte request, a 9-byte reply).

The line's limit for those frames is 1 / ((request + reply bytes) × 11 / 9600 + the 3.5-character gap):
the simulators answer without a turnaround delay of their own, so none is counted. Achieved is the
replies counted over `--seconds` after a 1 s warm-up. Prints each run and the medians of `--runs` runs.
Writes its section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal

from bench import _common as c
from drivers.base import DeviceEvent, DriverStats
from drivers.dlt645 import DI_FORWARD_ACTIVE_TOTAL
from drivers.meter_bus import Dlt645Reader, LineSpec, MeterBusAdapter, MeterSpec, ModbusReader, char_time, rtu_gap
from drivers.modbus_meter import Register

BAUD = 9600
WARM_UP_S = 1.0
PERIOD_S = 0.01
DLT645_FRAMES = (20, 20)
MODBUS_FRAMES = (8, 9)
MODBUS_UNITS = (  # the demo units of simulators.modbus_meter, one 2-register energy reading each
    (1, Register(name="energy_total", address=342, function="input", type="float32", order="ABCD", unit="kWh")),
    (2, Register(name="volume", address=0, function="holding", type="uint32", order="CDAB", scale=Decimal("0.001"),
                 unit="m3")),
    (3, Register(name="heat_energy", address=16, function="holding", type="bcd32", order="ABCD",
                 scale=Decimal("0.01"), unit="kWh")),
)


def limit_tps(frames: tuple[int, int]) -> float:
    """Transactions per second the line allows for these frame sizes, with the minimal gap."""
    return 1 / (sum(frames) * char_time(BAUD) + rtu_gap(BAUD))


def dlt645_meters(addresses: list[str]) -> list[MeterSpec]:
    """One total-energy reader per DL/T 645 meter address."""
    return [MeterSpec(f"m{i}", PERIOD_S, Dlt645Reader(address, [DI_FORWARD_ACTIVE_TOTAL], response_s=0.2))
            for i, address in enumerate(addresses)]


def modbus_meters() -> list[MeterSpec]:
    """One 2-register energy reader per demo Modbus unit."""
    return [MeterSpec(f"u{unit}", PERIOD_S, ModbusReader(unit, [register], response_s=0.2))
            for unit, register in MODBUS_UNITS]


class Simulator:
    """A simulator CLI in its own process; `port` is its pty, `extra` the lines it printed after it."""

    def __init__(self, argv: list[str], lines: int) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        printed = [self.process.stdout.readline().strip() for _ in range(lines)]
        self.port = printed[0].split()[-1]
        self.extra = printed[1:]

    def stop(self) -> None:
        """Interrupt the simulator as Ctrl-C would, so that it closes its pty."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def measure(port: str, meters: list[MeterSpec], seconds: float) -> float:
    """Replies per second the adapter gets on `port`, over `seconds` after the warm-up."""
    stats = DriverStats()

    async def emit(event: DeviceEvent) -> None:
        return None

    line = LineSpec(port, baudrate=BAUD, gap_s=rtu_gap(BAUD), turnaround_s=0.05)
    adapter = MeterBusAdapter("bench-bus", line, meters, emit=emit, stats=stats)
    task = asyncio.create_task(adapter.run())
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(WARM_UP_S)
        start, before = loop.time(), stats.frames_ok
        await asyncio.sleep(seconds)
        elapsed, replies = loop.time() - start, stats.frames_ok - before
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if stats.frames_rejected:
        print(f"  (rejections: {stats.rejections})")
    return replies / elapsed


def run_protocol(name: str, argv: list[str], lines: int, meters: Callable[[Simulator], list[MeterSpec]],
                 frames: tuple[int, int], seconds: float, runs: int) -> tuple[float, float]:
    """`runs` measurements, each against a fresh simulator; return the median rate and its share of the limit."""
    limit = limit_tps(frames)
    achieved = []
    for run in range(runs):
        sim = Simulator(argv, lines)
        try:
            tps = asyncio.run(measure(sim.port, meters(sim), seconds))
        finally:
            sim.stop()
        achieved.append(tps)
        print(f"{name} run {run + 1}: {tps:.2f} transactions/s = {tps / limit:.1%} of {limit:.2f}")
    median = statistics.median(achieved)
    return median, median / limit


def main(argv: list[str] | None = None) -> int:
    """Run both protocols and print every run and the medians."""
    parser = argparse.ArgumentParser(prog="python -m bench.meter_bus", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per protocol (default 3)")
    args = parser.parse_args(argv)
    info = c.machine()
    results = {
        "DL/T 645 total energy": run_protocol(
            "dlt645", ["simulators.meter_bus_sim", "--protocol", "dlt645", "--meters", "4", "--baud", str(BAUD),
                       "--tick", "0"], 2, lambda sim: dlt645_meters(sim.extra[0].split(":")[1].split()),
            DLT645_FRAMES, args.seconds, args.runs),
        "Modbus RTU 2-register read": run_protocol(
            "modbus_rtu", ["simulators.modbus_meter", "--rtu", "--baud", str(BAUD), "--tick", "0"], 1,
            lambda sim: modbus_meters(), MODBUS_FRAMES, args.seconds, args.runs),
    }
    print(f"\nmedians of {args.runs} runs at {BAUD} baud, {args.seconds:g} s each:")
    rows = []
    for (name, (tps, fraction)), frames in zip(results.items(), (DLT645_FRAMES, MODBUS_FRAMES)):
        print(f"  {name} ({frames[0]}+{frames[1]} bytes): {tps:.2f} transactions/s, {fraction:.1%} of the "
              f"line's {limit_tps(frames):.2f}")
        rows.append([name, f"{frames[0]} + {frames[1]}", f"{limit_tps(frames):.2f}", f"{tps:.2f}", f"{fraction:.1%}"])
    c.write_section("meter_bus", f"""
## Meter bus: transactions per second on one 9600-baud line

`.venv/bin/python -m bench.meter_bus` — {c.utc_date()}, {c.machine_line(info)}

Simulators on ptys pace the line like real 9600-baud meters (each frame holds it for bytes × 11 / 9600 s);
the gateway's MeterBusAdapter polls them back to back with the minimal 3.5-character gap. The line's limit
counts the request, the reply and the gap. Median of {args.runs} runs of {args.seconds:g} s. Target ≥ 80 %.

{c.table(["frames", "bytes (request + reply)", "line limit /s", "achieved /s", "of the limit"], rows)}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
