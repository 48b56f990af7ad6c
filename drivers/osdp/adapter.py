"""Transport adapter: one OSDP bus (an RS-485 port and the readers on it), with EstateLink as control panel.

run() opens the port, hands it to a BusThread (drivers.osdp.bus) that runs libosdp, and turns what the
thread reports into DeviceEvents, in order: `card.read`, `keypad.input`, `reader.tamper`, `reader.power`,
`reader.online` and `reader.offline`. Every event names the reader ("pd", its id; "address") and carries
"reader": "osdp", the reader family. feedback() and output() queue commands to a reader through the thread.

DriverStats: `state` is "online" when every reader is online, "connecting" before any verdict, else
"degraded: " and each reader's state; `frames_ok` counts good packets received on the line and the
rejections count noise, corrupt packets and card reads that fail their checks, by reason.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import osdp_sys
import serial
from osdp import LogLevel

from drivers.base import DeviceEvent, DriverStats, Emit, TransportError
from drivers.card_line import mask_card
from drivers.osdp.bus import BusFailed, BusMessage, BusThread, ReaderInput, ReaderSpec, ReaderState
from drivers.osdp.commands import output_command
from drivers.osdp.errors import ReaderOffline, UnknownReader
from drivers.osdp.events import CardRead, KeypadInput, LocalStatus

READER = "osdp"
"""The `reader` field of every event this adapter emits: which reader family it came from."""
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400)
MAX_ADDRESS = 126
"""0x7F is OSDP's broadcast address."""
SCBK_SIZE = 16
JOIN_TIMEOUT_S = 2.0
LIBOSDP_LOG_LEVEL = LogLevel.Warning
"""libosdp writes its own log to stderr; below WARNING it would dump packets."""


def check_readers(readers: Sequence[ReaderSpec]) -> None:
    """ValueError unless the readers have unique ids and addresses (0..126) and 16-byte keys."""
    if not readers:
        raise ValueError("an OSDP bus needs at least one reader")
    for spec in readers:
        if not 0 <= spec.address <= MAX_ADDRESS:
            raise ValueError(f"reader {spec.id}: an OSDP address is 0..{MAX_ADDRESS}, not {spec.address}")
        if len(spec.scbk) != SCBK_SIZE:
            raise ValueError(f"reader {spec.id}: an SCBK is {SCBK_SIZE} bytes, not {len(spec.scbk)}")
    for what, values in (("id", [r.id for r in readers]), ("address", [r.address for r in readers])):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"reader {what}s must be unique on a bus; repeated: {', '.join(repeated)}")


class OsdpBusAdapter:
    """Owns one OSDP bus and emits what its readers report; sends them feedback and output commands."""

    log = logging.getLogger("drivers.osdp")

    def __init__(self, device_id: str, port: str, *, baudrate: int = 9600, readers: Sequence[ReaderSpec],
                 emit: Emit, stats: DriverStats | None = None, retry_s: tuple[float, float] = (1.0, 30.0)) -> None:
        if port.startswith("tcp://"):
            raise ValueError("an OSDP bus is a serial port (libosdp times replies on the line); tcp:// is not one")
        if baudrate not in BAUDRATES:
            raise ValueError(f"an OSDP baud rate is one of {', '.join(map(str, BAUDRATES))}, not {baudrate}")
        if not 0 < retry_s[0] <= retry_s[1]:
            raise ValueError(f"retry_s is (first, longest) with 0 < first <= longest, got {retry_s}")
        check_readers(readers)
        self.device_id, self.port, self.baudrate, self.retry_s = device_id, port, baudrate, retry_s
        self.readers = tuple(readers)
        self.stats = stats if stats is not None else DriverStats()
        self._emit = emit
        self._bus: BusThread | None = None
        self._states: dict[str, str] = {}
        self._status: dict[str, LocalStatus] = {}

    def reader_states(self) -> dict[str, str]:
        """Each reader's state: "connecting", "online", or "offline (<reason>)"."""
        return dict(self._states)

    async def run(self) -> None:
        """Run the bus until cancelled; raise TransportError when the port cannot be opened or fails."""
        line = self._open()
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[BusMessage] = asyncio.Queue()
        bus = BusThread(self.device_id, line.fileno(), list(self.readers), stats=self.stats, retry_s=self.retry_s,
                        post=lambda message: loop.call_soon_threadsafe(inbox.put_nowait, message))
        self._states = {spec.id: "connecting" for spec in self.readers}
        self._status = {spec.id: LocalStatus(tamper=False, power_failure=False) for spec in self.readers}
        self._show_state()
        for spec in self.readers:
            if spec.install_mode:
                self.log.warning("%s: reader %s is in INSTALL MODE: a reader still on the well-known default key "
                                 "SCBK-D is given its SCBK over the line; turn install_mode off once it is online",
                                 self.device_id, spec.id)
        osdp_sys.set_loglevel(LIBOSDP_LOG_LEVEL)
        bus.start()
        self._bus = bus
        self.log.info("%s: control panel for %d reader(s) on %s", self.device_id, len(self.readers), self.port)
        try:
            while True:
                message = await inbox.get()
                if isinstance(message, BusFailed):
                    await self._bus_down(message.reason)
                    raise TransportError(f"{self.device_id}: {self.port}: {message.reason}")
                await self._on_message(message)
        finally:
            self._bus = None
            bus.stop()
            bus.join(JOIN_TIMEOUT_S)  # blocks the loop for at most one tick and one refresh: a few ms
            line.close()

    async def feedback(self, pd: str | int, granted: bool) -> list[str]:
        """Show a grant (green, one beep) or deny (red, three beeps) on a reader; the commands queued."""
        index = self._index(pd)
        result: list[str] = await self._call(lambda bus: bus.feedback(index, granted))
        return result

    async def output(self, pd: str | int, output_no: int, on_ms: int) -> None:
        """Switch a reader's output on for on_ms (a door relay through the reader), or off now with on_ms = 0."""
        output_command(output_no, on_ms)  # a bad request fails here, before it reaches the bus
        index = self._index(pd)
        await self._call(lambda bus: bus.output(index, output_no, on_ms))

    def _index(self, pd: str | int) -> int:
        for index, spec in enumerate(self.readers):
            if pd == (spec.address if isinstance(pd, int) else spec.id):
                return index
        raise UnknownReader(f"{self.device_id} has no reader {pd!r}")

    async def _call(self, fn: Callable[[BusThread], Any]) -> Any:
        bus = self._bus
        if bus is None:
            raise ReaderOffline(f"{self.device_id}: the bus is not running")
        return await asyncio.wrap_future(bus.call(fn))

    def _open(self) -> serial.Serial:
        try:
            line = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=0, exclusive=True)
        except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
            raise TransportError(f"{self.device_id}: cannot open {self.port}: {exc}") from exc
        os.set_blocking(line.fileno(), False)
        return line

    async def _on_message(self, message: BusMessage) -> None:
        if isinstance(message, ReaderState):
            await self._state_changed(message.reader, message.state, message.reason)
        elif isinstance(message, ReaderInput):
            await self._input(message.reader, message.event)

    async def _input(self, spec: ReaderSpec, event: CardRead | KeypadInput | LocalStatus) -> None:
        where = {"reader": READER, "pd": spec.id, "address": spec.address}
        if isinstance(event, CardRead):
            data: dict[str, Any] = {"card": event.card, "format": event.format, **where, "bits": event.bits}
            if event.facility is not None:
                data.update(facility=event.facility, number=event.number)
            if event.reader_no:
                data["reader_no"] = event.reader_no
            self.log.debug("%s: reader %s: card %s", self.device_id, spec.id, mask_card(event.card))
            await self._emit(DeviceEvent("card.read", data))
        elif isinstance(event, KeypadInput):
            self.log.debug("%s: reader %s: %d key(s)", self.device_id, spec.id, len(event.keys))
            await self._emit(DeviceEvent("keypad.input", {**where, "keys": event.keys}))
        else:
            before, self._status[spec.id] = self._status[spec.id], event
            if event.tamper != before.tamper:
                self._log_status(spec, "TAMPERED" if event.tamper else "tamper cleared", event.tamper)
                await self._emit(DeviceEvent("reader.tamper", {**where, "tamper": event.tamper}))
            if event.power_failure != before.power_failure:
                self._log_status(spec, "POWER FAILURE" if event.power_failure else "power restored",
                                 event.power_failure)
                await self._emit(DeviceEvent("reader.power", {**where, "power_failure": event.power_failure}))

    def _log_status(self, spec: ReaderSpec, what: str, alarm: bool) -> None:
        self.log.log(logging.WARNING if alarm else logging.INFO, "%s: reader %s: %s", self.device_id, spec.id, what)

    async def _state_changed(self, spec: ReaderSpec, state: str, reason: str | None) -> None:
        where = {"reader": READER, "pd": spec.id, "address": spec.address}
        self._states[spec.id] = state if reason is None else f"{state} ({reason})"
        self._show_state()
        if state == "online":
            self.log.info("%s: reader %s (address %d) online, secure channel up", self.device_id, spec.id,
                          spec.address)
            await self._emit(DeviceEvent("reader.online", {**where, "secure": True}))
            return
        hint = {"secure_channel_failed": "; it answers but the secure channel failed: check its SCBK (or "
                                         "install_mode, for a reader still on its default key)",
                "insecure": "; it has no secure channel, so it was disconnected"}.get(reason or "", "")
        self.stats.last_error = f"reader {spec.id}: {reason}"
        self.log.warning("%s: reader %s (address %d) offline: %s%s", self.device_id, spec.id, spec.address, reason,
                         hint)
        await self._emit(DeviceEvent("reader.offline", {**where, "reason": reason}))

    async def _bus_down(self, why: str) -> None:
        self.log.error("%s: bus down: %s", self.device_id, why)
        for spec in self.readers:
            if self._states.get(spec.id) == "online":
                await self._state_changed(spec, "offline", "bus_down")

    def _show_state(self) -> None:
        states = set(self._states.values())
        if states == {"online"}:
            self.stats.state = "online"
        elif states == {"connecting"}:
            self.stats.state = "connecting"
        else:
            self.stats.state = "degraded: " + ", ".join(f"{rid}={s}" for rid, s in self._states.items())
