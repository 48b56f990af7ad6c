"""Simulated Modbus meters that are real peers: pymodbus's server, over Modbus TCP and over RTU on a pty.

Theory of operation: each SimUnit is one meter: a unit id, a register map (drivers.modbus_meter), start
readings and the step each advance() adds. The sim keeps the readings as Decimals and gives pymodbus one
SimDevice per unit, whose `action` callback writes the current readings into the unit's registers with
encode_value() just before pymodbus answers a read, so all transports serve the same meters. Unit ids
the sim does not serve get no answer, as on an RS-485 bus; holes in a unit's map read as 0. A float32
reading reads back equal to the sim's Decimal while it has no more digits than a float32 keeps (~7).

* TCP: pymodbus's ModbusTcpServer on host:port; port 0 picks a free one and `tcp_port` tells which.
* RTU: pymodbus's serial server can only open a port by name (through pyserial) and a pty's master end
  has none, so the sim opens the pty and hands its master end, as an asyncio transport, to a
  ModbusSerialServer's request handler (pymodbus's RTU framing and request handling, unchanged).
  Clients open `rtu_port`, the slave path. With a baudrate the line is paced: a request and its reply
  each hold it for bytes x 11 bits / baud (no inter-frame gap is added), and the reply is written
  when the line would have carried it, so a bench measures real bus time.

Faults are per unit and may change while serving: `silent` drops the unit's replies, `delay_ms` holds
them back, `exception` answers reads with that Modbus exception code. Replies are dropped or delayed in
the handler's send(), after pymodbus has framed them, so a late reply still carries its own request's
unit and transaction id and a client that gave up on it discards it instead of mistaking it for another.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import sys
import tty
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus_meter import FUNCTION_CODES, Register, encode_value, plan_reads
from simulators.cli_support import point_link, remove_link

BITS_PER_CHAR = 11
"""An RTU character on the wire: start bit, 8 data bits, parity (or a second stop bit), stop bit."""

_READ_FUNCTIONS = {code: name for name, code in FUNCTION_CODES.items()}
_TCP_UNIT_AT, _RTU_UNIT_AT = 6, 0  # where the unit id sits in an MBAP frame and in an RTU frame


@dataclass(frozen=True, slots=True)
class Fault:
    """How a unit misbehaves: no reply at all, a late reply, or a Modbus exception instead of data."""

    silent: bool = False
    delay_ms: int = 0
    exception: int | None = None

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise ValueError(f"delay_ms must be 0 or more, not {self.delay_ms}")
        if self.exception is not None and self.exception not in set(ExcCodes):
            raise ValueError(f"exception {self.exception} is not a Modbus exception code")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimUnit:
    """One simulated meter: unit id, register map, start readings and the step each advance() adds."""

    unit_id: int
    registers: tuple[Register, ...]
    start: Mapping[str, Decimal] = field(default_factory=dict)
    step: Mapping[str, Decimal] = field(default_factory=dict)
    fault: Fault = Fault()

    def __post_init__(self) -> None:
        object.__setattr__(self, "registers", tuple(self.registers))
        if not 1 <= self.unit_id <= 247:
            raise ValueError(f"unit id must be 1..247, not {self.unit_id}")
        plan_reads(self.registers)  # refuses repeated names
        if unknown := (set(self.start) | set(self.step)) - {r.name for r in self.registers}:
            raise ValueError(f"unit {self.unit_id} has no register named {', '.join(sorted(unknown))}")


class _Timers(set[asyncio.TimerHandle]):
    """The pending call_later handles of one sim, so that closing it can cancel them all."""

    def later(self, delay: float, callback: Callable[..., object], *args: Any) -> None:
        def fire() -> None:
            self.discard(handle)
            callback(*args)
        handle = asyncio.get_running_loop().call_later(delay, fire)
        self.add(handle)

    def cancel_all(self) -> None:
        for handle in self:
            handle.cancel()
        self.clear()


class _Handler(ServerRequestHandler):
    """pymodbus's request handler, whose framed replies are dropped or held back as the unit's fault says."""

    def __init__(self, server: ModbusTcpServer | ModbusSerialServer, sim: ModbusMeterSim, unit_at: int) -> None:
        super().__init__(server, server.trace_packet, server.trace_pdu, server.trace_connect)
        self._sim, self._unit_at = sim, unit_at

    def send(self, data: bytes, addr: tuple | None = None) -> None:
        delay = self._sim._reply_delay(data[self._unit_at])
        if delay == 0:
            super().send(data, addr)
        elif delay is not None:
            self._sim._timers.later(delay, super().send, data, addr)


class _TcpServer(ModbusTcpServer):
    sim: ModbusMeterSim

    def callback_new_connection(self) -> _Handler:
        return _Handler(self, self.sim, _TCP_UNIT_AT)


class _RtuServer(ModbusSerialServer):
    sim: ModbusMeterSim

    def callback_new_connection(self) -> _Handler:
        return _Handler(self, self.sim, _RTU_UNIT_AT)


class _PtyLine(asyncio.Transport):
    """The master end of a pty as a transport, paced like an RS-485 line when given a baud rate."""

    def __init__(self, master: int, protocol: asyncio.Protocol, baudrate: int | None, timers: _Timers) -> None:
        super().__init__()
        self._master, self._protocol, self._baudrate, self._timers = master, protocol, baudrate, timers
        self._loop = asyncio.get_running_loop()
        self._free_at, self.busy, self._closed = 0.0, 0.0, False
        self._loop.add_reader(master, self._read_ready)
        self._loop.call_soon(protocol.connection_made, self)

    def _occupy(self, size: int) -> float:
        """Book the line for `size` bytes after whatever it carries now; return when they are through."""
        now = self._loop.time()
        wire_time = size * BITS_PER_CHAR / self._baudrate  # type: ignore[operator]
        self._free_at = max(now, self._free_at) + wire_time
        self.busy += wire_time
        return self._free_at - now

    def _read_ready(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        if self._baudrate:
            self._occupy(len(data))
        self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._baudrate and not self._closed:
            self._timers.later(self._occupy(len(data)), self._emit, bytes(data))
        elif not self._closed:
            self._emit(bytes(data))

    def _emit(self, data: bytes) -> None:
        with contextlib.suppress(BlockingIOError):  # nobody drains the line: the reply is lost, as on a bus
            os.write(self._master, data)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._master)


class ModbusMeterSim:
    """Simulated meters served over Modbus TCP and/or RTU on a pty; `async with` it, or await aclose()."""

    def __init__(self, units: Iterable[SimUnit], *, tick: float | None = None) -> None:
        self._units: dict[int, SimUnit] = {}
        for unit in units:
            if unit.unit_id in self._units:
                raise ValueError(f"unit id {unit.unit_id} is used twice")
            self._units[unit.unit_id] = unit
        self._readings = {uid: {r.name: Decimal(0) for r in u.registers} for uid, u in self._units.items()}
        self._faults = {uid: unit.fault for uid, unit in self._units.items()}
        for unit in self._units.values():
            for name, value in unit.start.items():
                self.set_value(unit.unit_id, name, value)
        self._tick = tick
        self._ticker: asyncio.TimerHandle | None = None
        self._timers = _Timers()
        self._tcp: _TcpServer | None = None
        self._rtu: tuple[_RtuServer, _Handler, _PtyLine, int, int] | None = None
        self.tcp_port: int | None = None
        self.rtu_port: str | None = None

    def readings(self, unit_id: int) -> dict[str, Decimal]:
        """A unit's current readings by register name."""
        return dict(self._readings[self._unit(unit_id).unit_id])

    def set_value(self, unit_id: int, name: str, value: Decimal | int) -> None:
        """Set one reading; LocalProtocolError if its register cannot carry it."""
        entry = {r.name: r for r in self._unit(unit_id).registers}.get(name)
        if entry is None:
            raise KeyError(f"unit {unit_id} has no register named {name!r}")
        encode_value(entry, value)
        self._readings[unit_id][name] = Decimal(value)

    def advance(self, steps: int = 1) -> None:
        """Add each unit's step `steps` times to its readings, all or none (LocalProtocolError if one overflows)."""
        staged = [(unit.unit_id, entry, self._readings[unit.unit_id][entry.name] + unit.step[entry.name] * steps)
                  for unit in self._units.values() for entry in unit.registers if unit.step.get(entry.name)]
        for _, entry, value in staged:
            encode_value(entry, value)
        for unit_id, entry, value in staged:
            self._readings[unit_id][entry.name] = value

    def set_fault(self, unit_id: int, fault: Fault) -> None:
        """Make a unit misbehave from its next request on; Fault() restores it."""
        self._unit(unit_id)
        self._faults[unit_id] = fault

    @property
    def rtu_line_busy(self) -> float:
        """Seconds the paced RTU line has carried bytes (0 when unpaced or not serving RTU)."""
        return self._rtu[2].busy if self._rtu else 0.0

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for Modbus TCP; return the bound port (also `tcp_port`)."""
        if self._tcp is not None:
            raise RuntimeError("already serving TCP")
        self._tcp = _TcpServer(self._devices(), address=(host, port))
        self._tcp.sim = self
        await self._tcp.serve_forever(background=True)
        self.tcp_port = self._tcp.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._start_ticking()
        return self.tcp_port

    async def serve_rtu(self, *, baudrate: int | None = None) -> str:
        """Serve Modbus RTU on a new pty, paced at `baudrate` if given; return the slave path (`rtu_port`)."""
        if self._rtu is not None:
            raise RuntimeError("already serving RTU")
        if baudrate is not None and baudrate <= 0:
            raise ValueError(f"baudrate must be positive, not {baudrate}")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged
            os.set_blocking(master, False)
            path = os.ttyname(slave)
            server = _RtuServer(self._devices(), framer=FramerType.RTU)
            server.sim = self
            handler = server.handle_new_connection()
            line = _PtyLine(master, handler, baudrate, self._timers)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        # Holding our own slave fd keeps the pty (and its raw settings) alive while clients reopen it.
        self._rtu = (server, handler, line, master, slave)
        self.rtu_port = path
        self._start_ticking()
        return path

    async def aclose(self) -> None:
        """Stop serving, drop held-back replies, close the pty and every connection."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self._timers.cancel_all()
        if self._rtu is not None:
            (server, handler, line, master, slave), self._rtu = self._rtu, None
            handler.close()
            line.close()  # also when pymodbus has not been handed the line yet
            await server.shutdown()
            os.close(master)
            os.close(slave)
        if self._tcp is not None:
            server_tcp, self._tcp = self._tcp, None
            await server_tcp.shutdown()
            await asyncio.sleep(0)  # asyncio closes the accepted sockets on the next loop iteration

    async def __aenter__(self) -> ModbusMeterSim:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _unit(self, unit_id: int) -> SimUnit:
        try:
            return self._units[unit_id]
        except KeyError:
            raise KeyError(f"no unit {unit_id}; units: {sorted(self._units)}") from None

    def _start_ticking(self) -> None:
        if self._tick and self._ticker is None:
            self._ticker = asyncio.get_running_loop().call_later(self._tick, self._on_tick)

    def _on_tick(self) -> None:
        self._ticker = None
        self.advance()
        self._start_ticking()

    def _reply_delay(self, unit_id: int) -> float | None:
        """Seconds to hold a reply from `unit_id` back, or None to drop it."""
        fault = self._faults.get(unit_id)
        return None if fault is None or fault.silent else fault.delay_ms / 1000

    def _devices(self) -> list[SimDevice]:
        bits = [SimData(0, values=False, datatype=DataType.BITS)]  # pymodbus wants every table; action refuses
        devices = [SimDevice(0, simdata=SimData(0, datatype=DataType.INVALID))]  # ids we do not serve
        for unit in self._units.values():
            tables = (list(bits), list(bits), self._table(unit, "holding"), self._table(unit, "input"))
            devices.append(SimDevice(unit.unit_id, simdata=tables,
                                     action=functools.partial(self._on_request, unit.unit_id)))
        return devices

    @staticmethod
    def _table(unit: SimUnit, function: str) -> list[SimData]:
        entries = [r for r in unit.registers if r.function == function]
        if not entries:
            return [SimData(0, datatype=DataType.INVALID)]
        low, high = min(r.address for r in entries), max(r.end for r in entries)
        return [SimData(low, values=[0] * (high - low), datatype=DataType.REGISTERS, readonly=True)]

    async def _on_request(self, unit_id: int, function_code: int, start_address: int, _address: int,
                          _count: int, registers: list[int], set_values: object) -> ExcCodes | None:
        """pymodbus's SimDevice action: refuse what meters refuse, else load current readings."""
        if (code := self._faults[unit_id].exception) is not None:
            return ExcCodes(code)
        function = _READ_FUNCTIONS.get(function_code)
        if function is None or set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION
        readings = self._readings[unit_id]
        for entry in self._units[unit_id].registers:
            if entry.function == function:
                at = entry.address - start_address
                registers[at:at + entry.words] = encode_value(entry, readings[entry.name])
        return None


_DEMO = (  # unit id, register, address, table, type, order, scale, unit, start reading, step per advance
    (1, "voltage", 0, "input", "float32", "ABCD", "1", "V", "230.1", "0"),  # an SDM-style electricity meter
    (1, "current", 6, "input", "float32", "ABCD", "1", "A", "4.25", "0"),
    (1, "energy_total", 342, "input", "float32", "ABCD", "1", "kWh", "1234.5", "0.25"),
    (2, "volume", 0, "holding", "uint32", "CDAB", "0.001", "m3", "12.345", "0.010"),  # a water meter counting litres
    (2, "flow", 2, "holding", "uint16", "ABCD", "0.01", "m3/h", "0.36", "0"),
    (3, "heat_energy", 16, "holding", "bcd32", "ABCD", "0.01", "kWh", "4321.00", "0.05"),  # a heat meter in BCD
    (3, "flow_temp", 18, "holding", "int16", "ABCD", "0.1", "degC", "55.5", "0"),
)


def _demo_unit(unit_id: int) -> SimUnit:
    rows = [row[1:] for row in _DEMO if row[0] == unit_id]
    return SimUnit(unit_id=unit_id,
                   registers=tuple(Register(name=name, address=address, function=function, type=type_,
                                            order=order, scale=Decimal(scale), unit=unit)
                                   for name, address, function, type_, order, scale, unit, _, _ in rows),
                   start=MappingProxyType({row[0]: Decimal(row[7]) for row in rows}),
                   step=MappingProxyType({row[0]: Decimal(row[8]) for row in rows}))


DEMO_UNITS: tuple[SimUnit, ...] = tuple(_demo_unit(unit_id) for unit_id in sorted({row[0] for row in _DEMO}))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of the Modbus meter simulator."""
    parser.add_argument("--tcp", type=int, metavar="PORT", help="serve Modbus TCP on PORT (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on for TCP (default 127.0.0.1)")
    parser.add_argument("--rtu", action="store_true", help="serve Modbus RTU on a new pseudo-terminal")
    parser.add_argument("--link", type=Path, help="symlink to create pointing at the RTU pty's slave")
    parser.add_argument("--baud", type=int, help="pace the RTU line like a real one at this baud rate")
    parser.add_argument("--tick", type=float, default=1.0, help="advance the meters every TICK seconds (0: never)")


async def run(args: argparse.Namespace) -> None:
    """Serve the demo meters until cancelled, printing where each transport listens."""
    async with ModbusMeterSim(DEMO_UNITS, tick=args.tick or None) as sim:
        if args.tcp is not None:
            port = await sim.serve_tcp(args.host, args.tcp)
            print(f"modbus tcp {args.host}:{port}", flush=True)
        if args.rtu:
            path = await sim.serve_rtu(baudrate=args.baud)
            if args.link is not None:
                point_link(args.link, path)
            print(f"modbus rtu {path}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            if args.rtu and args.link is not None:
                remove_link(args.link, path)


def main(argv: list[str] | None = None) -> int:
    """`python -m simulators.modbus_meter --tcp 15020 --rtu`: serve the demo meters until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m simulators.modbus_meter", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.tcp is None and not args.rtu:
        parser.error("give --tcp PORT, --rtu, or both")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
