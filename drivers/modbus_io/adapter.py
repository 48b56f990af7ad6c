"""Transport adapter: one Modbus I/O module (TCP, or RTU on a serial line) through pymodbus's async client.

One task owns the module: run() connects, switches every lock coil off, then polls the discrete inputs every
`poll_s` and emits an `io.input` event for each change (the access runtime turns those into door states).
pulse() switches a coil on for a while; pymodbus runs one transaction at a time, so a pulse waits for at
most one poll in flight. A TCP connection runs with TCP_NODELAY, so a lock command is never held back by Nagle.

A module that stops answering `offline_after` polls in a row, or cannot be reached, is reported once with a
`device.offline` event, closed, and retried with jittered exponential backoff (`retry_s`); `device.online`
follows when it answers again. Only cancellation ends run().

Lock safety. A lock coil must never stay on because something failed:
1. Each pulse is a task of this adapter, not of the caller: the caller may be cancelled once the pulse has
   begun, the coil still goes off on time. Its "off" write runs in a `finally`, shielded, so cancelling the
   pulse itself (the gateway stopping) switches the coil off too.
2. When run() ends for any reason it switches off the coils it had on before it closes the connection.
3. An "off" that cannot be written (the module went silent mid-pulse) is remembered, and every (re)connect
   writes all lock coils off before anything else, so a restart after a crash or power cut re-locks.
4. What software cannot cover (the gateway killed while a coil is on, the network cut for good) the module
   must: configure its communication watchdog / safe state to drop outputs when the master goes quiet, or
   wire the strike through a timer relay (docs/config.md, "Door hardware").
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Collection
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from drivers.base import DeviceEvent, DriverError, DriverStats, Emit, LocalProtocolError
from drivers.card_line import tcp_address
from drivers.modbus_io.inputs import KIND, InputTracker

OFF_TIMEOUT_S = 2.0
"""How long the adapter keeps trying to write a coil off when stopping."""
LOG_EVERY = 100


def _no_delay(client: Any) -> None:
    """Send each request at once: Nagle would hold a lock command back until the last reply's ACK (~40 ms)."""
    sock = client.ctx.transport.get_extra_info("socket") if client.ctx.transport else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _raise_if_cancelled() -> None:
    """Raise a cancel that pymodbus dropped: on Python 3.11 its asyncio.wait_for returns a reply that arrives
    in the same loop turn as the cancel and swallows the cancel, so a stopped adapter would poll on for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class ModuleOffline(DriverError):
    """The I/O module is not connected or did not answer: the coil was not switched."""


class ModbusIoAdapter:
    """Owns one Modbus I/O module: polls its inputs, pulses its coils, reports it offline and back."""

    log = logging.getLogger("drivers.modbus_io")

    def __init__(self, device_id: str, port: str, *, emit: Emit, stats: DriverStats | None = None, unit_id: int = 1,
                 inputs: int = 8, coils: int = 8, baudrate: int = 9600, parity: str = "N", poll_s: float = 0.1,
                 timeout_s: float = 0.5, offline_after: int = 3, retry_s: tuple[float, float] = (1.0, 30.0),
                 lock_coils: Collection[int] = ()) -> None:
        if not 0 < retry_s[0] <= retry_s[1]:
            raise ValueError(f"retry_s is (first, longest) with 0 < first <= longest, got {retry_s}")
        if any(not 0 <= coil < coils for coil in lock_coils):
            raise ValueError(f"{device_id}: lock coils {sorted(lock_coils)} must be below coils = {coils}")
        self.device_id, self.port, self.unit_id = device_id, port, unit_id
        self.coils, self.poll_s, self.timeout_s = coils, poll_s, timeout_s
        self.offline_after, self.retry_s = offline_after, retry_s
        self.stats = stats if stats is not None else DriverStats()
        self._emit = emit
        self._tcp = tcp_address(port)
        self._serial = {"baudrate": baudrate, "parity": parity}
        self._inputs = InputTracker(inputs)
        self._lock_coils = set(lock_coils)
        self._client: Any = None
        self._reported_offline = False
        self._holds: dict[int, asyncio.Task[None]] = {}
        self._until: dict[int, float] = {}
        self._confirmed: dict[int, asyncio.Future[None]] = {}
        self._offs: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def online(self) -> bool:
        """Whether the module is connected and answering."""
        return self._client is not None

    @property
    def coils_on(self) -> frozenset[int]:
        """Coils this adapter holds on right now."""
        return frozenset(coil for coil, task in self._holds.items() if not task.done())

    async def run(self) -> None:
        """Poll until cancelled, reconnecting with backoff whenever the module is silent or unreachable."""
        delay = self.retry_s[0]
        while True:
            client = self._new_client()
            worked = False
            try:
                reason = await self._session(client)
                worked = reason is None
            finally:
                await self._end_session(client)
            if worked:
                delay = self.retry_s[0]  # it had been online: a fresh outage starts the backoff again
            await self._offline(self.stats.last_error or "no answer")
            await asyncio.sleep(delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, self.retry_s[1])

    async def pulse(self, coil: int, seconds: float) -> None:
        """Switch `coil` on for `seconds` (lengthening a pulse in progress); returns once the module confirmed."""
        # Shielded: a caller cancelled now leaves the pulse to finish (and switch off) on its own.
        await asyncio.shield(self.start_pulse(coil, seconds))

    def start_pulse(self, coil: int, seconds: float) -> asyncio.Future[None]:
        """pulse() without waiting: the request goes out on the loop's next turn; the future says when it is on."""
        if not 0 <= coil < self.coils:
            raise LocalProtocolError(f"{self.device_id} has coils 0 to {self.coils - 1}, not {coil}")
        if not seconds > 0:
            raise LocalProtocolError(f"a pulse lasts more than 0 s, not {seconds}")
        client = self._client
        if client is None:
            raise ModuleOffline(f"{self.device_id} is offline: coil {coil} not switched")
        loop = asyncio.get_running_loop()
        hold = self._holds.get(coil)
        if hold is not None and not hold.done() and hold not in self._closing:
            self._until[coil] = max(self._until.get(coil, 0.0), loop.time() + seconds)  # still on: lengthen it
        else:
            # A hold that is already switching off finishes first; this pulse then switches on again.
            previous = hold if hold is not None and not hold.done() else None
            self._until[coil] = loop.time() + seconds
            self._confirmed[coil] = loop.create_future()
            hold = self._hold(client, coil, seconds, self._confirmed[coil], previous)
            self._holds[coil] = asyncio.create_task(hold, name=f"{self.device_id}:coil{coil}")
        return self._confirmed[coil]

    # --- one connection ---------------------------------------------------------------------------------

    def _new_client(self) -> Any:
        common = {"timeout": self.timeout_s, "retries": 0, "reconnect_delay": 0, "name": self.device_id}
        if self._tcp is not None:
            host, port = self._tcp
            return AsyncModbusTcpClient(host, port=port, **common)
        return AsyncModbusSerialClient(self.port, baudrate=self._serial["baudrate"], parity=self._serial["parity"],
                                       bytesize=8, stopbits=1, **common)

    async def _session(self, client: Any) -> str | None:
        """Connect, re-lock, poll until the module goes silent; None if it had been online, else the reason."""
        self.stats.state = "connecting"
        try:
            connected = await asyncio.wait_for(client.connect(), self.timeout_s * 4)
        except (OSError, TimeoutError, ModbusException) as exc:
            connected, self.stats.last_error = False, f"cannot connect to {self.port}: {exc}"
        if not connected:
            self.stats.reject("connect")
            self.stats.last_error = self.stats.last_error or f"cannot connect to {self.port}"
            return self.stats.last_error
        _no_delay(client)
        for coil in sorted(self._lock_coils):  # rule 3: re-lock before anything can be opened
            if not await self._transact(client, "write_coil", coil, False):
                return self.stats.last_error
        self._inputs.reset()
        if not await self._poll_once(client):
            return self.stats.last_error
        self._client = client
        self.stats.state, self.stats.last_error = "online", None
        self.log.info("%s: module at %s answering (unit %d)", self.device_id, self.port, self.unit_id)
        if self._reported_offline:
            self._reported_offline = False
            await self._emit(DeviceEvent("device.online", {"device": self.device_id}))
        failures = 0
        while failures < self.offline_after:
            await asyncio.sleep(self.poll_s)
            failures = 0 if await self._poll_once(client) else failures + 1
        return None

    async def _poll_once(self, client: Any) -> bool:
        if self._inputs.count == 0:  # nothing to read: a coil read keeps the silence check
            return await self._transact(client, "read_coils", 0, count=1) is not None
        reply = await self._transact(client, "read_discrete_inputs", 0, count=self._inputs.count)
        if reply is None:
            return False
        try:
            changes = self._inputs.update(reply.bits)
        except DriverError as exc:
            self._failed("short_reply", str(exc))
            return False
        for change in changes:
            await self._emit(DeviceEvent(KIND, change.data()))
        return True

    async def _transact(self, client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """One request; the reply, or None (counted and logged) if the module did not answer it properly."""
        try:
            async with asyncio.timeout(self.timeout_s * 2):  # not wait_for: no extra task, no extra loop turn
                reply = await getattr(client, method)(*args, device_id=self.unit_id, **kwargs)
        except (ModbusException, OSError, TimeoutError) as exc:
            _raise_if_cancelled()
            self._failed("timeout" if "No response" in str(exc) or isinstance(exc, TimeoutError) else "transport",
                         f"{method} {args[0]}: {exc}")
            return None
        _raise_if_cancelled()
        if reply.isError():
            self._failed("exception", f"{method} {args[0]}: Modbus exception {getattr(reply, 'exception_code', '?')}")
            return None
        self.stats.frames_ok += 1
        return reply

    def _failed(self, reason: str, detail: str) -> None:
        self.stats.reject(reason)
        self.stats.last_error = f"{self.port}: {detail}"
        count = self.stats.rejections[reason]
        level = logging.WARNING if count == 1 or count % LOG_EVERY == 0 else logging.DEBUG
        self.log.log(level, "%s: %s (%s, %d so far)", self.device_id, detail, reason, count)

    async def _offline(self, why: str) -> None:
        self.stats.state = "offline"
        if not self._reported_offline:
            self._reported_offline = True
            self.log.error("%s: I/O module offline: %s; retrying with backoff", self.device_id, why)
            await self._emit(DeviceEvent("device.offline", {"device": self.device_id}))

    async def _end_session(self, client: Any) -> None:
        """Rule 2: switch off what this session holds on, then close."""
        self._client = None
        holds = [task for task in self._holds.values() if not task.done()]
        for task in holds:
            task.cancel()
        deadline = asyncio.get_running_loop().time() + OFF_TIMEOUT_S
        if holds:
            await asyncio.wait(holds, timeout=OFF_TIMEOUT_S)
        # A hold cancelled while it already waited for its "off" ends at once and leaves the write to its own
        # task: that write, too, must be answered before the client closes under it.
        offs = [task for task in self._offs if not task.done()]
        if offs:
            await asyncio.wait(offs, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        client.close()

    # --- pulses -----------------------------------------------------------------------------------------

    async def _hold(self, client: Any, coil: int, seconds: float, confirmed: asyncio.Future[None],
                    previous: asyncio.Task[None] | None) -> None:
        loop = asyncio.get_running_loop()
        confirmed.add_done_callback(lambda f: f.cancelled() or f.exception())  # the caller may be gone
        try:
            if previous is not None:
                await asyncio.wait([previous])
            if not await self._transact(client, "write_coil", coil, True):
                confirmed.set_exception(ModuleOffline(f"{self.device_id}: coil {coil} not switched on: "
                                                      f"{self.stats.last_error}"))
                return  # the request may still have reached the module: the finally switches it off anyway
            confirmed.set_result(None)
            self._until[coil] = max(self._until.get(coil, 0.0), loop.time() + seconds)  # from when it is on
            while (left := self._until.get(coil, 0.0) - loop.time()) > 0:
                await asyncio.sleep(left)
        except asyncio.CancelledError:
            if not confirmed.done():
                confirmed.set_exception(ModuleOffline(f"{self.device_id}: pulse of coil {coil} cancelled"))
            raise
        finally:
            me = asyncio.current_task()
            self._closing.add(me)  # type: ignore[arg-type]
            if self._holds.get(coil) is me:
                self._until.pop(coil, None)
            off = asyncio.create_task(self._switch_off(client, coil))
            self._offs.add(off)
            off.add_done_callback(self._offs.discard)
            try:
                await asyncio.shield(off)  # rule 1: a second cancel cannot stop the off write
            finally:
                self._closing.discard(me)  # type: ignore[arg-type]

    async def _switch_off(self, client: Any, coil: int) -> None:
        if await self._transact(client, "write_coil", coil, False):
            return
        self._lock_coils.add(coil)  # rule 3: written off first thing on the next connect
        self.log.error("%s: coil %d may still be ON (the module did not confirm 'off'); it is switched off as "
                       "soon as the module answers again", self.device_id, coil)
