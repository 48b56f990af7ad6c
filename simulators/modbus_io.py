"""A simulated Modbus TCP I/O module on pymodbus's server: coils drive lock relays, discrete inputs read door
contacts. Tests (and `estatelink sim modbus-io`) watch the lock pulses and open and close the doors.

Theory of operation: one pymodbus SimDevice with its own coil and discrete-input tables; its `action`
callback runs on every request, so the sim logs each coil write (coil, value, time.monotonic()) the moment
the request arrives, and answers input reads from `inputs`, which a test sets at any time (from any thread:
plain assignments read by the loop thread). `silent` drops every reply after pymodbus has framed it, like a
module that is powered but no longer answering; `reply_delay_s` holds replies back, like a slow one. Unit ids
other than the sim's are answered with exception 2 (illegal data address).

`ThreadedModbusIoSim` runs the sim on its own event loop in a thread, for synchronous tests and benches.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

WRITE_COIL, WRITE_COILS, READ_COILS, READ_INPUTS = 5, 15, 1, 2


@dataclass(frozen=True, slots=True)
class CoilWrite:
    """One coil write as the module received it; `at` is time.monotonic() in the sim's process."""

    coil: int
    on: bool
    at: float


class _Handler(ServerRequestHandler):
    """pymodbus's request handler, whose framed replies are dropped while the sim is silent."""

    def __init__(self, server: _Server) -> None:
        super().__init__(server, server.trace_packet, server.trace_pdu, server.trace_connect)
        self._sim = server.sim

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # like a module's small TCP stack: each reply leaves in one segment, at once
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes, addr: tuple | None = None) -> None:
        if self._sim.silent:
            return
        if self._sim.reply_delay_s > 0:
            handle = asyncio.get_running_loop().call_later(self._sim.reply_delay_s, super().send, data, addr)
            self._sim._held.add(handle)
        else:
            super().send(data, addr)


class _Server(ModbusTcpServer):
    sim: ModbusIoSim

    def callback_new_connection(self) -> _Handler:
        return _Handler(self)


def _bit_table(count: int) -> list[SimData]:
    return [SimData(0, values=[False] * ((max(count, 1) + 15) // 16 * 16), datatype=DataType.BITS)]


class ModbusIoSim:
    """One simulated I/O module; `async with` it, or await aclose()."""

    def __init__(self, *, unit_id: int = 1, inputs: int = 8, coils: int = 8) -> None:
        if not 1 <= unit_id <= 247:
            raise ValueError(f"unit id must be 1..247, not {unit_id}")
        self.unit_id = unit_id
        self.inputs = [False] * inputs
        self.coils = [False] * coils
        self.writes: list[CoilWrite] = []
        self.reads = 0
        self.silent = False
        self.reply_delay_s = 0.0
        self._held: set[asyncio.TimerHandle] = set()
        self.tcp_port: int | None = None
        self._server: _Server | None = None

    # --- what a test does ---------------------------------------------------------------------------

    def set_input(self, number: int, on: bool) -> None:
        """Set one discrete input (a door contact closed = on, for a normally-closed contact)."""
        self.inputs[number] = on

    def pulses(self, coil: int) -> list[tuple[float, float | None]]:
        """(on at, off at or None while still on) for each time the coil went on, from the write log."""
        out: list[tuple[float, float | None]] = []
        state = False
        for write in [w for w in self.writes if w.coil == coil]:
            if write.on and not state:
                out.append((write.at, None))
            elif not write.on and state:
                out[-1] = (out[-1][0], write.at)
            state = write.on
        return out

    def first_on_after(self, coil: int, at: float) -> float | None:
        """When the coil was first written on at or after `at` (time.monotonic()), or None."""
        return next((w.at for w in list(self.writes) if w.coil == coil and w.on and w.at >= at), None)

    # --- serving --------------------------------------------------------------------------------------

    def devices(self) -> list[SimDevice]:
        """The module as pymodbus SimDevices, for a server of the caller's choice (RTU on a serial port)."""
        tables = (_bit_table(len(self.coils)), _bit_table(len(self.inputs)), [SimData(0, datatype=DataType.INVALID)],
                  [SimData(0, datatype=DataType.INVALID)])
        return [SimDevice(0, simdata=SimData(0, datatype=DataType.INVALID)),  # other ids: illegal address
                SimDevice(self.unit_id, simdata=tables, action=self._on_request)]

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for Modbus TCP; return the bound port (also `tcp_port`)."""
        if self._server is not None:
            raise RuntimeError("already serving")
        self._server = _Server(self.devices(), address=(host, port))
        self._server.sim = self
        await self._server.serve_forever(background=True)
        self.tcp_port = self._server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.tcp_port

    async def aclose(self) -> None:
        """Stop serving and close every connection."""
        for handle in self._held:
            handle.cancel()
        self._held.clear()
        if self._server is not None:
            server, self._server = self._server, None
            await server.shutdown()
            await asyncio.sleep(0)  # asyncio closes the accepted sockets on the next loop iteration

    async def __aenter__(self) -> ModbusIoSim:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _on_request(self, function_code: int, _start: int, address: int, count: int, registers: list[int],
                          set_values: Any) -> ExcCodes | None:
        """pymodbus's SimDevice action: log coil writes, serve the current coils and inputs."""
        now = time.monotonic()
        if function_code in (WRITE_COIL, WRITE_COILS) and set_values is not None:
            values = set_values if isinstance(set_values, list) else [set_values]
            if address + len(values) > len(self.coils):
                return ExcCodes.ILLEGAL_ADDRESS
            for offset, value in enumerate(values):
                self.coils[address + offset] = bool(value)
                self.writes.append(CoilWrite(address + offset, bool(value), now))
            return None
        table = self.coils if function_code in (READ_COILS, WRITE_COIL, WRITE_COILS) else self.inputs
        if function_code == READ_INPUTS:
            self.reads += 1
        if address + count > len(table):
            return ExcCodes.ILLEGAL_ADDRESS
        words = [0] * len(registers)
        for index, on in enumerate(table):
            if on:
                words[index // 16] |= 1 << (index % 16)
        registers[:] = words
        return None


class ThreadedModbusIoSim:
    """A ModbusIoSim on its own event loop in a daemon thread; a context manager for synchronous callers."""

    def __init__(self, **kwargs: Any) -> None:
        self.sim = ModbusIoSim(**kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="modbus-io-sim", daemon=True)
        self.port = 0

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start the thread and listen; returns the TCP port."""
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.sim.serve_tcp(host, port), self._loop).result(10)
        return self.port

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.sim.aclose(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ModbusIoSim:
        self.start()
        return self.sim

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


HELP = "commands on stdin: open N, close N (door contact N, normally closed), on N / off N (raw input), silent, answer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `estatelink sim modbus-io`."""
    parser.add_argument("--port", type=int, default=1502, help="Modbus TCP port (0 picks a free one; default 1502)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--unit", type=int, default=1, help="the module's unit id (default 1)")
    parser.add_argument("--inputs", type=int, default=8, help="discrete inputs (door contacts, default 8)")
    parser.add_argument("--coils", type=int, default=8, help="coils (lock relays, default 8)")


def apply_command(sim: ModbusIoSim, line: str) -> str:
    """Run one stdin command against the sim; returns what to print."""
    words = line.split()
    if words in (["silent"], ["answer"]):
        sim.silent = words == ["silent"]
        return "silent" if sim.silent else "answering"
    if len(words) == 2 and words[0] in ("open", "close", "on", "off") and words[1].isdigit():
        number = int(words[1])
        if number >= len(sim.inputs):
            return f"no input {number} (inputs 0..{len(sim.inputs) - 1})"
        sim.set_input(number, words[0] in ("close", "on"))
        return f"input {number} {'on' if sim.inputs[number] else 'off'}"
    return HELP


async def run(args: argparse.Namespace) -> None:
    """Serve one module until cancelled, printing coil writes and obeying commands on stdin."""
    async with ModbusIoSim(unit_id=args.unit, inputs=args.inputs, coils=args.coils) as sim:
        sim.inputs = [True] * args.inputs  # every door closed (normally-closed contacts read on)
        port = await sim.serve_tcp(args.host, args.port)
        print(f"modbus-io tcp {args.host}:{port} unit {args.unit}; {HELP}", flush=True)
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, ValueError):
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        shown = 0
        while True:
            if reader.at_eof():  # stdin closed (or none): keep serving, just watch the coils
                await asyncio.sleep(0.1)
            with contextlib.suppress(TimeoutError):
                line = await asyncio.wait_for(reader.readline(), 0.1)
                if line.strip():
                    print(apply_command(sim, line.decode(errors="replace")), flush=True)
            for write in sim.writes[shown:]:
                print(f"{write.at:.3f} coil {write.coil} {'ON' if write.on else 'off'}", flush=True)
            shown = len(sim.writes)


def main(argv: list[str] | None = None) -> int:
    """`python -m simulators.modbus_io --port 1502`: serve an I/O module until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m simulators.modbus_io", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
