"""The owner of one meter bus: a serial line, a tcp:// serial server, or a Modbus TCP connection, carrying
one transaction at a time.

Theory of operation: RS-485 is half-duplex and every meter on it hears every byte, so exactly one task
(the adapter's) calls transact(), and transact() does one exchange from start to end:

1. Settle. The line must have been quiet for the gap (`gap_s`: the Modbus RTU inter-frame silence of
   3.5 characters, or the configured gap for DL/T 645 and CJ/T 188) since the last byte either way. After
   an exchange that ended without its reply (a timeout, a broken frame) the quiet time is at least the
   turnaround (`turnaround_s`): a slow meter may still be answering, and its late bytes must not be read
   as the next meter's reply. Bytes that arrive while settling are discarded and counted as stray.
2. Write the request. Our own last byte leaves the wire len × char time after the write.
3. Wait for the reply until a deadline: request wire time + the largest reply's wire time + the meter's
   response allowance, counted from the write. A character is 11 bits on the wire (start, 8 data, parity
   or a second stop bit, stop), so n bytes take n × 11 / baud seconds. A Modbus TCP line has no baud
   rate: its deadline is the allowance alone.

What the bytes mean is the Answer's business (one per protocol): it returns the reply, raises a
MeterError (garbled, refused), or asks for more bytes. Only the line failing raises TransportError.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import serial
import serial_asyncio_fast

from drivers.base import TransportError
from drivers.card_line import tcp_address
from drivers.meter_bus.errors import MeterError

CHAR_BITS = 11
MAX_SETTLE_S = 2.0
"""A line that never falls quiet (a babbling device) is written to anyway after this long."""
CLOSE_TIMEOUT_S = 2.0
OPEN_TIMEOUT_S = 10.0

log = logging.getLogger("drivers.meter_bus")


def char_time(baudrate: int) -> float:
    """Seconds one 11-bit character occupies the line."""
    return CHAR_BITS / baudrate


def rtu_gap(baudrate: int) -> float:
    """The Modbus RTU inter-frame silence: 3.5 characters, fixed at 1.75 ms above 19200 baud."""
    return 0.00175 if baudrate > 19200 else 3.5 * char_time(baudrate)


@dataclass(frozen=True, slots=True)
class LineSpec:
    """Where the bus is and how it is timed; `baudrate` None means no wire pacing (Modbus TCP)."""

    port: str
    baudrate: int | None = 9600
    parity: Literal["N", "E", "O"] = "N"
    bytesize: int = 8
    stopbits: int = 1
    gap_s: float = 0.0
    turnaround_s: float = 0.0

    def wire_s(self, size: int) -> float:
        """Seconds `size` bytes occupy the wire (0 without a baud rate)."""
        return size * char_time(self.baudrate) if self.baudrate else 0.0


class Answer(Protocol):
    """Judges the bytes that come back after one request."""

    def feed(self, data: bytes) -> Any | None:
        """The reply once `data` completes it, None to wait for more; raises MeterError on a bad one."""

    def expired(self) -> MeterError:
        """What it means that the deadline passed: silence, or a reply that never became whole."""


class _Receiver(asyncio.Protocol):
    """Collects what the line delivers, when it last delivered anything, and how the line ended."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.last_rx = 0.0
        self.lost: BaseException | None = None
        self.closed = self.loop.create_future()
        self._waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_rx = self.loop.time()
        self._wake()

    def eof_received(self) -> bool:
        self.lost = self.lost or EOFError("end of stream")
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.lost or exc or EOFError("closed")
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    async def wait(self, timeout: float) -> None:
        """Until more bytes arrive, the line ends, or `timeout` passes."""
        if self.buffer or self.lost is not None:
            return
        self._waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._wake)
        try:
            await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class BusLine:
    """One bus, opened by `async with`; transact() runs one exchange on it."""

    def __init__(self, name: str, spec: LineSpec, *, on_stray: Callable[[int], None] | None = None) -> None:
        self.name, self.spec = name, spec
        self._tcp = tcp_address(spec.port)
        self._on_stray = on_stray
        self._transport: asyncio.WriteTransport | None = None
        self._rx: _Receiver | None = None
        self._tx_end = 0.0
        self._clean = True  # whether the last exchange ended with its reply
        self.replies = 0
        """Exchanges that ended with their reply, since the line was made."""

    async def __aenter__(self) -> BusLine:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the port or connect; TransportError if that fails."""
        loop = asyncio.get_running_loop()
        spec = self.spec
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                if self._tcp is not None:
                    self._transport, self._rx = await loop.create_connection(_Receiver, *self._tcp)
                else:
                    await self._open_serial(loop)
        except (OSError, TimeoutError, termios.error, ValueError) as exc:  # SerialException is an OSError
            raise TransportError(f"{self.name}: cannot open {spec.port}: {exc}") from exc

    async def _open_serial(self, loop: asyncio.AbstractEventLoop) -> None:
        spec = self.spec
        port = await loop.run_in_executor(None, functools.partial(
            serial.serial_for_url, spec.port, baudrate=spec.baudrate or 9600, parity=spec.parity,
            bytesize=spec.bytesize, stopbits=spec.stopbits))
        try:
            # The transport reconfigures the port (timeout 0), which a port may refuse: close it then,
            # which serial_asyncio_fast.create_serial_connection would not do.
            self._transport, self._rx = await serial_asyncio_fast.connection_for_serial(loop, _Receiver, port)
        except BaseException:
            port.close()
            raise

    async def close(self) -> None:
        """Close the line and wait for its file descriptor to be released."""
        transport, rx, self._transport, self._rx = self._transport, self._rx, None, None
        if transport is None or rx is None:
            return
        transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(rx.closed), CLOSE_TIMEOUT_S)

    async def transact(self, request: bytes, answer: Answer, *, reply_size: int, allowance_s: float) -> Any:
        """Send `request` and return what `answer` makes of the reply; MeterError or TransportError if none."""
        rx = self._receiver()
        await self._settle(rx)
        loop = rx.loop
        try:
            self._transport.write(request)  # type: ignore[union-attr]  # _receiver() checked it
        except OSError as exc:
            raise TransportError(f"{self.name}: write to {self.spec.port} failed: {exc}") from exc
        sent = loop.time()
        self._tx_end = sent + self.spec.wire_s(len(request))
        deadline = self._tx_end + self.spec.wire_s(reply_size) + allowance_s
        self._clean = False
        while True:
            data = rx.take()
            if data:
                result = answer.feed(data)  # a MeterError leaves _clean False: the next exchange waits longer
                if result is not None:
                    self._clean = True
                    self.replies += 1
                    return result
            self._check(rx)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise answer.expired()
            await rx.wait(remaining)

    async def _settle(self, rx: _Receiver) -> None:
        quiet = self.spec.gap_s if self._clean else max(self.spec.gap_s, self.spec.turnaround_s)
        loop = rx.loop
        give_up = loop.time() + MAX_SETTLE_S
        while True:
            self._check(rx)
            now = loop.time()
            wait = max(rx.last_rx, self._tx_end) + quiet - now
            if wait <= 0 or now >= give_up:
                break
            await asyncio.sleep(min(wait, give_up - now))
        if stray := rx.take():
            if self._on_stray is not None:
                self._on_stray(len(stray))
            log.debug("%s: discarded %d stray bytes %s", self.name, len(stray), stray.hex())

    def _receiver(self) -> _Receiver:
        if self._rx is None or self._transport is None:
            raise TransportError(f"{self.name}: {self.spec.port} is not open")
        return self._rx

    def _check(self, rx: _Receiver) -> None:
        if rx.lost is not None:
            raise TransportError(f"{self.name}: {self.spec.port} failed: {rx.lost}")
