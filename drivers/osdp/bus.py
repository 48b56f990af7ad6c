"""The thread that owns one OSDP bus: libosdp's control panel, its channel over the port, and each reader's link.

Only this thread touches the libosdp context (libosdp is not thread-safe): it calls refresh() every TICK_S,
runs the calls the event loop queues (feedback, outputs), and posts what happened back to the loop as
frozen messages. refresh() itself is cheap (measured over 5 s on a pty, two readers polled under the secure
channel: 12 us median, 30 us mean, 0.15 ms worst), so the thread is not about CPU. It is about timing: a PD
must answer within 200 ms and libosdp must be refreshed at least every 50 ms, while the gateway's event loop
also runs the outbox, MQTT and JSON work, whose stalls would otherwise read as lost replies. Under the secure
channel one lost reply already costs the session (the CP repeats the packet, the PD's MAC chain no longer
matches, and the reader drops offline until the next handshake), so protocol timing must not hang on the loop.

Each reader's link is judged from libosdp's notifications, by one table (VERDICTS): online with a secure
channel; online without one (only possible in install mode, and never accepted); offline while it still
answers (its secure channel failed: a wrong SCBK, or a reader not yet given one); offline and silent.
libosdp waits 300 s before retrying an offline PD; this thread disables it instead and re-enables it after
its own backoff, so a reader that comes back is online again within seconds.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

import osdp_sys
from osdp import Capability, LibFlag

from drivers.base import DriverStats
from drivers.osdp.commands import FEEDBACK, buzzer_command, led_command, output_command
from drivers.osdp.errors import CommandRefused, NotCapable, ReaderOffline
from drivers.osdp.events import (
    CardRead,
    CommandDone,
    KeypadInput,
    LinkChange,
    LocalStatus,
    Rejected,
    SecureChannelChange,
    decode_event,
)
from drivers.osdp.framing import Packet, PacketWatcher

TICK_S = 0.01
"""Time between refresh() calls; libosdp asks for at least one every 50 ms."""
HEARD_WINDOW_S = 1.0
"""A reader heard this recently when its link fails was answering: its session failed, it is not silent."""
LOG_EVERY = 100
"""After the first rejection of a reason is logged loudly, only every LOG_EVERY-th one is."""

log = logging.getLogger("drivers.osdp")


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    """One PD on the bus: its id in events, its address, its SCBK (never shown) and whether to provision it."""

    id: str
    address: int
    scbk: bytes = field(repr=False)
    install_mode: bool = False


@dataclass(frozen=True, slots=True)
class ReaderState:
    """A reader's link changed: `state` is "online" or "offline", `reason` says why it is offline."""

    reader: ReaderSpec
    state: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ReaderInput:
    """Something a reader reported: a card, keys, or its tamper and power status."""

    reader: ReaderSpec
    event: CardRead | KeypadInput | LocalStatus


@dataclass(frozen=True, slots=True)
class BusFailed:
    """The bus thread stopped on its own: the line failed, or libosdp did."""

    reason: str


BusMessage: TypeAlias = ReaderState | ReaderInput | BusFailed

VERDICTS: Mapping[tuple[bool, bool], tuple[str, str | None]] = MappingProxyType({
    # (libosdp says online, secure channel active (when online) or reader heard lately (when offline))
    (True, True): ("online", None),
    (True, False): ("offline", "insecure"),
    (False, True): ("offline", "secure_channel_failed"),
    (False, False): ("offline", "no_response"),
})


class LineChannel:
    """libosdp's channel over an open, non-blocking port: read/write/flush that never raise into libosdp."""

    def __init__(self, fd: int, on_bytes: Callable[[bytes], None]) -> None:
        self.error: str | None = None
        self._fd = fd
        self._on_bytes: Callable[[bytes], None] | None = on_bytes
        self._ready = select.poll()
        self._ready.register(fd, select.POLLIN)

    def read(self, max_bytes: int) -> bytes:
        if self.error is not None or self._on_bytes is None:
            return b""
        try:
            if not self._ready.poll(0):
                return b""
            data = os.read(self._fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self.error = f"read failed: {exc}"
            return b""
        if not data:  # a serial port set to return at once reads b"" when idle, but not when poll says ready
            self.error = "closed (end of stream)"
            return b""
        try:
            self._on_bytes(data)
        except Exception:  # counting must neither cost libosdp its bytes nor raise into its C code
            log.exception("could not judge %d received bytes", len(data))
        return data

    def write(self, buf: bytes) -> int:
        if self.error is not None or self._on_bytes is None:
            return 0
        try:
            return os.write(self._fd, buf)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self.error = f"write failed: {exc}"
            return 0

    def flush(self) -> None:
        # libosdp drops stale input here; it still goes through the watcher, so noise is counted.
        while self.read(1024):
            pass

    def detach(self) -> None:
        """Forget the port and the watcher: libosdp keeps a reference to its channel after teardown."""
        self._on_bytes = None
        self._fd = -1


@dataclass(slots=True)
class _Link:
    spec: ReaderSpec
    state: str = "connecting"
    reason: str | None = None
    disable_due: bool = False
    disabled: bool = False
    retry_at: float | None = None
    delay_s: float = 0.0


class BusThread(threading.Thread):
    """Runs libosdp's control panel for the readers of one bus over an open port, until stopped or failed."""

    def __init__(self, name: str, fd: int, readers: list[ReaderSpec], *, post: Callable[[BusMessage], None],
                 stats: DriverStats, retry_s: tuple[float, float]) -> None:
        super().__init__(name=f"osdp:{name}", daemon=True)
        self._name, self._post, self.stats = name, post, stats
        self._links = [_Link(spec, delay_s=retry_s[0]) for spec in readers]
        self._retry_s = retry_s
        self._watcher = PacketWatcher()
        self._heard: dict[int, float] = {}
        self._channel = LineChannel(fd, self._received)
        self._halt = threading.Event()
        self._calls: list[tuple[Callable[[Any], Any], concurrent.futures.Future[Any]]] = []
        self._calls_lock = threading.Lock()
        self._closed = False
        self._cp: Any = None

    def stop(self) -> None:
        """Ask the thread to tear libosdp down and end; join() it afterwards."""
        self._halt.set()

    def call(self, fn: Callable[[BusThread], Any]) -> concurrent.futures.Future[Any]:
        """Run fn(self) in the bus thread at its next tick; once the bus has stopped, the future fails at once."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._calls_lock:
            if self._closed:
                future.set_exception(ReaderOffline(f"{self._name}: the bus is not running"))
            else:
                self._calls.append((fn, future))
        return future

    def run(self) -> None:
        try:
            self._cp = osdp_sys.ControlPanel([self._pd_info(link.spec) for link in self._links])
            self._cp.set_event_callback(self._on_event)
            while not self._halt.is_set():
                self._cp.refresh()
                if self._channel.error is not None:
                    self._fail(f"line {self._channel.error}")
                    break
                self._run_calls()
                self._retry(time.monotonic())
                self._halt.wait(TICK_S)
        except Exception as exc:  # libosdp failing must end this bus, not leave a silent thread
            log.exception("%s: libosdp failed", self._name)
            self._fail(f"libosdp failed: {exc!r}")
        finally:
            self._close_calls()
            self._cp = None  # libosdp's teardown, in the thread that used the context
            self._channel.detach()

    def feedback(self, index: int, granted: bool) -> list[str]:
        """Queue the LED and tone commands of a grant or deny to reader `index`; the names of those sent."""
        pattern = FEEDBACK[granted]
        commands = [(Capability.LEDControl, "led", led_command(pattern)),
                    (Capability.AudibleControl, "buzzer", buzzer_command(pattern))]
        chosen = [(name, command) for cap, name, command in commands if self._items(index, cap) > 0]
        if not chosen:
            raise NotCapable(f"{self._links[index].spec.id} reported neither LEDs nor a buzzer")
        for name, command in chosen:
            self._submit(index, command)
        return [name for name, _ in chosen]

    def output(self, index: int, output_no: int, on_ms: int) -> None:
        """Queue an output command to reader `index`, if it reported that output."""
        command = output_command(output_no, on_ms)
        outputs = self._items(index, Capability.OutputControl)
        if output_no >= outputs:
            raise NotCapable(f"{self._links[index].spec.id} reported {outputs} output(s); no output {output_no}")
        self._submit(index, command)

    def _pd_info(self, spec: ReaderSpec) -> dict[str, Any]:
        # Install mode leaves ENFORCE_SECURE off: that flag forbids SCBK-D, which provisioning needs.
        flags = LibFlag.InstallMode if spec.install_mode else LibFlag.EnforceSecure
        return {"name": spec.id, "address": spec.address, "flags": flags | LibFlag.EnableNotification,
                "scbk": spec.scbk, "channel": self._channel}

    def _items(self, index: int, capability: int) -> int:
        if self._links[index].state != "online":
            raise ReaderOffline(f"{self._links[index].spec.id} is {self._links[index].state}")
        _, items = self._cp.check_capability(index, capability)
        return int(items)

    def _submit(self, index: int, command: dict[str, Any]) -> None:
        if not self._cp.submit_command(index, command):
            raise CommandRefused(f"libosdp did not queue the command for {self._links[index].spec.id}")

    def _received(self, data: bytes) -> None:
        now = time.monotonic()
        for item in self._watcher.feed(data):
            if isinstance(item, Packet):
                self.stats.frames_ok += 1
                if item.reply:
                    self._heard[item.address] = now
            else:
                self._rejected(item.reason, len(item.raw))

    def _rejected(self, reason: str, size: int, reader: str | None = None) -> None:
        self.stats.reject(reason)
        count = self.stats.rejections[reason]
        level = logging.WARNING if count == 1 or count % LOG_EVERY == 0 else logging.DEBUG
        source = f"reader {reader}" if reader else "the line"
        log.log(level, "%s: rejected %d bytes from %s: %s (%d so far)", self._name, size, source, reason, count)

    def _on_event(self, index: int, event: dict[str, Any]) -> int:
        try:
            self._handle(index, event)
        except Exception:  # an exception must not cross back into libosdp's C callback
            log.exception("%s: could not handle libosdp event %r", self._name, event.get("event"))
        return 0

    def _handle(self, index: int, event: dict[str, Any]) -> None:
        item = decode_event(event)
        spec = self._links[index].spec
        if isinstance(item, (CardRead, KeypadInput, LocalStatus)):
            self._send(ReaderInput(spec, item))
        elif isinstance(item, Rejected):
            self._rejected(item.reason, len(item.raw), spec.id)
        elif isinstance(item, LinkChange):
            self._judge(index, item.online)
        elif isinstance(item, SecureChannelChange) and item.active and item.install_key:
            log.warning("%s: reader %s: INSTALL MODE: secure channel with the well-known default key SCBK-D; "
                        "sending it its SCBK", self._name, spec.id)
        elif isinstance(item, CommandDone):
            if item.command == "keyset" and item.ok:
                log.warning("%s: reader %s: SCBK stored in the reader; set install_mode = false for it now",
                            self._name, spec.id)
            elif not item.ok:
                log.warning("%s: reader %s refused the %s command", self._name, spec.id, item.command)
        else:
            log.debug("%s: reader %s: %r", self._name, spec.id, item)

    def _judge(self, index: int, online: bool) -> None:
        link = self._links[index]
        if self._channel.error is not None:
            return  # the line failed, not the reader: the whole bus is going down
        if not online and (link.disabled or link.disable_due):
            return  # the echo of our own disable_pd()
        if online:
            evidence = bool(self._cp.sc_status() >> index & 1)
        else:
            heard = self._heard.get(link.spec.address)
            evidence = heard is not None and time.monotonic() - heard < HEARD_WINDOW_S
        state, reason = VERDICTS[(online, evidence)]
        if state == "online":
            link.delay_s = self._retry_s[0]
        else:
            link.disable_due = True  # not from inside libosdp's callback: it is in the middle of refresh()
            link.retry_at = time.monotonic() + link.delay_s
            link.delay_s = min(link.delay_s * 2, self._retry_s[1])
        if (state, reason) != (link.state, link.reason):
            link.state, link.reason = state, reason
            self._send(ReaderState(link.spec, state, reason))

    def _retry(self, now: float) -> None:
        for index, link in enumerate(self._links):
            if link.disable_due:
                self._cp.disable_pd(index)
                link.disable_due, link.disabled = False, True
            elif (link.disabled and link.retry_at is not None and now >= link.retry_at
                  and self._cp.enable_pd(index)):  # False until libosdp has done the disable, a tick later
                link.disabled, link.retry_at = False, None

    def _run_calls(self) -> None:
        with self._calls_lock:
            calls, self._calls = self._calls, []
        for fn, future in calls:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(self))
            except Exception as exc:  # whatever went wrong belongs to the caller awaiting the future
                future.set_exception(exc)

    def _close_calls(self) -> None:
        with self._calls_lock:
            self._closed = True
            calls, self._calls = self._calls, []
        for _, future in calls:
            if future.set_running_or_notify_cancel():
                future.set_exception(ReaderOffline(f"{self._name}: the bus stopped"))

    def _send(self, message: BusMessage) -> None:
        if self._halt.is_set():
            return  # the loop is tearing the bus down and reads no more messages
        try:
            self._post(message)
        except RuntimeError:  # the event loop is already closed
            pass

    def _fail(self, reason: str) -> None:
        self._send(BusFailed(reason))
