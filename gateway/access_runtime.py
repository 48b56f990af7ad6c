"""The access runtime: every tap at a door decided locally, the lock pulsed, the door watched.

It hooks the capture path at the narrowest point: the `emit` each driver is handed (Supervisor's emitter).
For a door's reader, the wrapped emit decides the tap from the in-memory cache (microseconds), starts the
lock pulse as a task of its own, then captures the card.read and the `access.decision` together (one outbox
commit). Nothing on that path waits for the uplink, so decision, pulse and event happen with it down; the
decision log is the outbox's access stream like any other event. A QR reader's line is verified as a
visitor pass instead; its text (a bearer credential) is not stored, the decision names the pass id.

A modbus_io module's `io.input` events (contact changes) stop here: they drive each door's state machine
(gateway.door_state), whose `door.state`, `door.forced` and `door.held_open` events are captured instead.
Its `device.offline` makes the door contacts unknown, and is captured as the alarm it is.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from drivers.base import DeviceEvent, Emit
from drivers.modbus_io import KIND as IO_INPUT
from edge_config import DoorConfig, GatewayConfig
from edge_config.access import split_ref
from estatelink import wire
from estatelink.access_model import Decision
from gateway.access import OfflineMode, OfflinePolicy, decide, decide_pass
from gateway.access_sync import AccessSync, CacheWriter, open_cache, settle_heap
from gateway.capture import Capture
from gateway.commands import CommandRouter, Refused
from gateway.door_io import LockTarget, LockUnavailable, ReaderFeedback, lock_coils, lock_target, modbus_io
from gateway.door_state import Action, DoorInput, DoorStatus, step
from gateway.supervisor import DriverFactory

log = logging.getLogger("gateway.access")
PURGE_EVERY_S = 3600.0
DOOR_OPEN_MAX_S = 60
DOOR_OPEN_MAX_LIFETIME = timedelta(seconds=60)
"""The longest a door_open may live: central issues it for 30 s (central.access.remote.DOOR_OPEN_TTL)."""
RELOCK_GRACE_S = 1.0
"""The door counts as released this much longer than its lock pulse: a contact is read a poll late, and a
door pushed open in the pulse's last instant is a passage, not a forced door."""


@dataclass
class _Door:
    """One door at run time: its config, lock, state-machine status and the two timers the runtime owns."""

    config: DoorConfig
    lock: LockTarget
    status: DoorStatus
    device: str
    """The envelope `device` of the door's events: its contact's module, else its lock's device."""
    relock_at: float = 0.0
    relock: asyncio.TimerHandle | None = None
    held: asyncio.TimerHandle | None = None
    sharing: list[_Door] = field(default_factory=list)


class AccessRuntime:
    """Decisions, lock pulses, door state machines and the access commands of one gateway."""

    def __init__(self, config: GatewayConfig, capture: Capture, commands: CommandRouter,
                 driver_of: Callable[[str], Any]) -> None:
        access = config.access
        if access is None:
            raise ValueError("the access runtime needs an [access] section")
        self.estate = config.estate.id
        self.public_key = access.public_key
        policy = OfflinePolicy(timedelta(days=access.offline_days), OfflineMode(access.offline_mode))
        self.cache = open_cache(access.cache_path, policy)
        self.writer = CacheWriter()
        self.sync = AccessSync(self.cache, self.writer)
        self._capture = capture
        self._driver_of = driver_of
        self._lock_coils = lock_coils(config.doors)
        self.doors: dict[str, _Door] = {}
        self._readers: dict[str, dict[str | None, _Door]] = {}
        self._qr: dict[str, _Door] = {}
        self._contacts: dict[str, dict[int, tuple[_Door, bool]]] = {
            device.id: {} for device in config.devices if device.driver == "modbus_io"}
        for door in config.doors:
            lock = lock_target(door, config.devices)
            device = door.contact.modbus if door.contact else lock.device
            self.doors[door.id] = entry = _Door(door, lock, DoorStatus(door.id), device)
            for ref in door.readers:
                reader, pd = split_ref(ref)
                self._readers.setdefault(reader, {})[pd] = entry
            if door.qr_reader:
                self._qr[door.qr_reader] = entry
            if door.contact:
                self._contacts.setdefault(door.contact.modbus, {})[door.contact.input] = (
                    entry, door.contact.normally == "closed")
        for entry in self.doors.values():
            entry.sharing = [other for other in self.doors.values() if other.lock.key == entry.lock.key]
        self._tasks: set[asyncio.Task[Any]] = set()
        self.decisions = 0
        self.purge_failures = 0
        self.sync.register(commands)
        commands.register("door_open", self.on_door_open, max_lifetime=DOOR_OPEN_MAX_LIFETIME)
        settle_heap(collect=True)  # the loaded cache: decisions must not wait for the collector to walk it

    # --- wiring ----------------------------------------------------------------------------------------

    def factories(self, factories: Mapping[str, DriverFactory]) -> dict[str, DriverFactory]:
        """The driver factories, with modbus_io told which of its coils are locks (switched off at connect)."""
        return {**factories, "modbus_io": partial(modbus_io, lock_coils=self._lock_coils)}

    def emitter(self, device: str) -> Emit:
        """The emit for one device: the capture's, wrapped where the device is a door's reader or contact."""
        capture = self._capture.emitter(device)
        readers, qr, contacts = self._readers.get(device), self._qr.get(device), self._contacts.get(device)
        if readers is None and qr is None and contacts is None:
            return capture

        async def emit(event: DeviceEvent) -> None:
            if event.kind == "card.read" and qr is not None:
                await self._pass_scanned(device, qr, event)
                return
            if event.kind == "card.read" and readers is not None:
                pd = event.data.get("pd")
                door = readers.get(pd) or readers.get(None)
                if door is not None:
                    await self._tapped(device, pd, door, event, capture)
                    return
            if event.kind == IO_INPUT and contacts is not None:  # inputs that are no door's contact end here too
                self._contact(contacts, event)
                return
            if event.kind == "device.offline" and contacts is not None:
                for door, _ in contacts.values():
                    self._feed(door, DoorInput.CONTACT_LOST)
            await capture(event)

        return emit

    async def state(self) -> dict[str, Any]:
        """The heartbeat's `access` field."""
        return await self.sync.state()

    async def run(self) -> None:
        """Housekeeping until cancelled (expired single-use passes); closes the cache on the way out."""
        try:
            while True:
                await asyncio.sleep(PURGE_EVERY_S)
                await self.purge_used_passes()
        finally:
            for door in self.doors.values():
                for handle in (door.relock, door.held):
                    if handle is not None:
                        handle.cancel()
            for task in list(self._tasks):
                task.cancel()
            self.writer.close(self.cache.close)

    async def purge_used_passes(self) -> None:
        """Forget expired single-use passes; a failure is logged and counted, never fatal (retried next hour)."""
        try:
            await self.writer.call(self.cache.purge_used_passes, wire.utc_now())
        except Exception:  # the gateway's task group must outlive a bad purge: taps are decided either way
            self.purge_failures += 1
            log.exception("purging expired single-use passes failed (%d failure(s) so far); retrying in %gs",
                          self.purge_failures, PURGE_EVERY_S)

    # --- taps ------------------------------------------------------------------------------------------

    async def _tapped(self, device: str, pd: str | None, door: _Door, event: DeviceEvent, capture: Emit) -> None:
        view = self.cache.view
        decision = decide(view, door.config.id, str(event.data.get("card", "")), wire.utc_now())
        self.decisions += 1
        if decision.granted:
            self._granted(door, decision)
        self._feedback(device, pd, decision.granted)
        reader = device if pd is None else f"{device}/{pd}"
        await asyncio.gather(capture(event),
                             self._capture.emit(device, DeviceEvent("access.decision",
                                                                    self._decision_data(decision, reader, view))))

    async def _pass_scanned(self, device: str, door: _Door, event: DeviceEvent) -> None:
        view = self.cache.view
        if self.public_key is None:  # the config requires a key for a QR reader; this is a safety net
            log.error("%s: a visitor pass was scanned but no pass key is configured", device)
            return
        decision = decide_pass(view, door.config.id, str(event.data.get("card", "")), wire.utc_now(),
                               public_key=self.public_key, estate=self.estate)
        self.decisions += 1
        if decision.granted:
            self._granted(door, decision)
        await self._capture.emit(device, DeviceEvent("access.decision", self._decision_data(decision, device, view)))

    def _granted(self, door: _Door, decision: Decision) -> None:
        write = self.cache.remember(decision)  # anti-passback and single use count from this instant
        if write is not None:
            self.writer.submit(self.cache.store, write)
        try:
            self._spawn(self._confirm(door, door.lock.start(self._driver_of, door.config.unlock_s)))
        except LockUnavailable as exc:
            log.error("door %s: lock NOT released: %s", door.config.id, exc)
        self._released(door, door.config.unlock_s)

    async def _confirm(self, door: _Door, pending: Awaitable[None]) -> None:
        try:
            await pending
        except LockUnavailable as exc:
            log.error("door %s: lock NOT released: %s", door.config.id, exc)

    def _released(self, door: _Door, seconds: float) -> None:
        for other in door.sharing:  # an entry and an exit reader on one gate share its lock
            self._feed(other, DoorInput.GRANT, relock_s=seconds + RELOCK_GRACE_S)

    def _feedback(self, device: str, pd: str | None, granted: bool) -> None:
        driver = self._driver_of(device)
        if pd is not None and isinstance(driver, ReaderFeedback):
            self._spawn(driver.feedback(pd, granted))

    def _decision_data(self, decision: Decision, reader: str, view: Any) -> dict[str, Any]:
        credential = view.credential(decision.card) if decision.holder is not None else None
        return {"door": decision.door, "reader": reader, "card": decision.card, "granted": decision.granted,
                "reason": decision.reason, "holder_id": decision.holder,
                "holder_name": credential.holder_name if credential else None,
                "holder_kind": credential.holder_kind.value if credential else None,
                "pass_id": decision.visitor_pass.id if decision.visitor_pass else None}

    # --- doors -----------------------------------------------------------------------------------------

    def _contact(self, contacts: dict[int, tuple[_Door, bool]], event: DeviceEvent) -> None:
        found = contacts.get(event.data.get("input", -1))
        if found is None:
            return
        door, normally_closed = found
        if event.data.get("initial") and door.status.open is not None:
            # A first reading without a device.offline before it (the driver was restarted): the contact went
            # unseen for a while, so the door is judged afresh, not as if it had just moved.
            self._feed(door, DoorInput.CONTACT_LOST)
        is_open = not event.data.get("on") if normally_closed else bool(event.data.get("on"))
        self._feed(door, DoorInput.OPENED if is_open else DoorInput.CLOSED)

    def _feed(self, door: _Door, given: DoorInput, relock_s: float = 0.0) -> None:
        """One input to a door's state machine; carry out its timer actions and capture its events."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        result = step(door.status, given, now)
        door.status = result.status
        for action in result.timers:
            if action is Action.START_HELD:
                if door.held is not None:
                    door.held.cancel()
                door.held = loop.call_later(door.config.held_open_s, self._feed, door, DoorInput.HELD_TIMEOUT)
            elif action is Action.STOP_HELD and door.held is not None:
                door.held.cancel()
                door.held = None
            elif action is Action.START_RELOCK and now + relock_s > door.relock_at:
                door.relock_at = now + relock_s
                if door.relock is not None:
                    door.relock.cancel()
                door.relock = loop.call_at(door.relock_at, self._feed, door, DoorInput.RELOCK)
        for kind, data in result.events:
            level = logging.WARNING if kind in ("door.forced", "door.held_open") else logging.DEBUG
            log.log(level, "door %s: %s %s", door.config.id, kind, data)
            self._spawn(self._capture.emit(door.device, DeviceEvent(kind, data)))

    # --- commands --------------------------------------------------------------------------------------

    async def on_door_open(self, command: wire.Command) -> str:
        """door_open {door, seconds?}: release the lock now and record who asked."""
        door_id = command.args.get("door")
        door = self.doors.get(door_id) if isinstance(door_id, str) else None
        if door is None:
            raise Refused(f"no door {door_id!r} on this gateway (doors: {', '.join(sorted(self.doors))})")
        seconds = command.args.get("seconds", door.config.unlock_s)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 1 <= seconds <= DOOR_OPEN_MAX_S:
            raise ValueError(f"args.seconds must be a number from 1 to {DOOR_OPEN_MAX_S}, got {seconds!r}")
        try:
            await door.lock.pulse(self._driver_of, seconds)
        except LockUnavailable as exc:
            raise RuntimeError(f"lock of door {door.config.id} not released: {exc}") from None
        self._released(door, seconds)
        await self._capture.emit("gateway", DeviceEvent("access.remote_open", {
            "door": door.config.id, "command_id": str(command.id), "issuer": command.issuer}))
        log.info("door %s released for %gs by %s (command %s)", door.config.id, seconds, command.issuer, command.id)
        return f"door {door.config.id} released for {seconds:g} s"

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("access task failed: %r", task.exception())
