"""The adapter the gateway runs for one meter bus: it owns the line, polls every meter on its schedule, and
hands each reading to the gateway as a `meter.reading` event.

One task polls (the only one that touches the line); a second hands events to the gateway, so a slow
outbox commit never holds the bus. A meter that fails is logged loudly once, then quietly until it
answers again, counted by reason in the driver stats (in total, and per meter as "<meter>:<reason>"),
and backed off by the schedule. The heartbeat's `state` is "online" while every meter answers and
"degraded: " with each failing meter's state otherwise (as the OSDP bus reports its readers), and
`last_error` names the meter that failed last. Only the line itself failing ends run().
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from drivers.base import DeviceEvent, DriverStats, Emit, TransportError
from drivers.meter_bus.errors import MeterError
from drivers.meter_bus.line import BusLine, LineSpec
from drivers.meter_bus.reading import MeterReader, Reading
from drivers.meter_bus.schedule import Schedule

KIND = "meter.reading"
LOG_EVERY = 100
"""After a meter's first failure is logged loudly, only every LOG_EVERY-th one in a row is."""
QUEUE_SIZE = 1000
DRAIN_S = 2.0
"""How long readings already taken may take to reach the outbox once the line has failed or run() stops."""


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """One meter on the bus: its id (the event's `meter`), poll period and the reader that speaks its protocol."""

    id: str
    period_s: float
    reader: MeterReader


@dataclass(frozen=True, slots=True)
class BusOptions:
    """How the bus backs off failing meters and trusts meter clocks."""

    retry_s: float = 1.0
    backoff_max_s: float = 300.0
    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    """The zone meter clocks are set in (they carry no offset of their own)."""
    max_clock_skew_s: float = 300.0
    """A meter clock further than this from the gateway's is reported as `meter_clock`, not as device_time."""


@dataclass(slots=True)
class MeterHealth:
    """What the bus knows of one meter: its state, failures in a row, and when it last answered."""

    state: str = "waiting"
    failures: int = 0
    last_ok: float | None = None
    last_error: str | None = None
    retry_in_s: float | None = None
    clock_skew_s: int | None = None
    """How far the meter's clock is from the gateway's, while that is beyond max_clock_skew_s."""

    def as_dict(self) -> dict[str, Any]:
        """The health as plain data, for the heartbeat or a log."""
        return {"state": self.state, "failures": self.failures, "last_ok": self.last_ok,
                "last_error": self.last_error, "retry_in_s": self.retry_in_s, "clock_skew_s": self.clock_skew_s}


class MeterBusAdapter:
    """Polls the meters of one bus and emits a `meter.reading` for every value read."""

    log = logging.getLogger("drivers.meter_bus")

    def __init__(self, device_id: str, line: LineSpec, meters: Sequence[MeterSpec], *, emit: Emit,
                 stats: DriverStats | None = None, options: BusOptions | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if not meters:
            raise ValueError(f"{device_id}: a meter bus needs at least one meter")
        self.device_id, self.line_spec = device_id, line
        self.meters = {meter.id: meter for meter in meters}
        if len(self.meters) != len(meters):
            raise ValueError(f"{device_id}: meter ids must be unique")
        self.options = options or BusOptions()
        self.stats = stats if stats is not None else DriverStats()
        self.health = {meter.id: MeterHealth() for meter in meters}
        self._emit = emit
        self._wall = wall_clock
        self._queue: asyncio.Queue[DeviceEvent | None] | None = None

    def meter_states(self) -> dict[str, dict[str, Any]]:
        """Each meter's state, failures in a row, last good poll (Unix time) and last error."""
        return {meter: health.as_dict() for meter, health in self.health.items()}

    async def run(self) -> None:
        """Poll until cancelled; raise TransportError when the line fails."""
        self._queue = asyncio.Queue(QUEUE_SIZE)
        async with BusLine(self.device_id, self.line_spec, on_stray=self._stray) as line:
            self._show_state()
            self.log.info("%s: polling %d meter(s) on %s", self.device_id, len(self.meters), self.line_spec.port)
            emitter = asyncio.create_task(self._emit_loop(self._queue), name=f"{self.device_id}:emit")
            try:
                await self._poll_loop(line, emitter)
            except TransportError:
                # The supervisor restarts a driver that had come online with a fresh backoff; a bus with a
                # dead meter (state "degraded") had come online too.
                self.stats.state = "online"
                raise
            finally:
                await self._stop(emitter)

    async def _poll_loop(self, line: BusLine, emitter: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        schedule = Schedule(((m.id, m.period_s) for m in self.meters.values()), start=loop.time(),
                            retry_s=self.options.retry_s, backoff_max_s=self.options.backoff_max_s)
        while True:
            if emitter.done():
                emitter.result()  # the gateway refused an event: let the supervisor restart us
                raise TransportError(f"{self.device_id}: event hand-off stopped")
            now = loop.time()
            meter_id = schedule.pick(now)
            if meter_id is None:
                await asyncio.sleep(schedule.next_wakeup() - now)
                continue
            meter = self.meters[meter_id]
            readings: list[Reading] = []
            replies = line.replies
            try:
                clock = await meter.reader.poll(line, readings)
            except MeterError as exc:
                self._failed(meter, exc, schedule.failed(meter_id, loop.time()))
                clock = None
            except TransportError:
                # The values read before the line failed are good: they go out with the rest on the way down.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(DRAIN_S):
                        await self._hand_off(meter, readings, None)
                raise
            else:
                schedule.succeeded(meter_id, loop.time())
                self._succeeded(meter)
            finally:
                self.stats.frames_ok += line.replies - replies
            await self._hand_off(meter, readings, clock)

    async def _hand_off(self, meter: MeterSpec, readings: list[Reading], clock: datetime | None) -> None:
        if not readings:
            return
        device_time, extra = self._meter_time(meter, clock)
        assert self._queue is not None
        for reading in readings:
            data = {"meter": meter.id, "register": reading.register, "value": format(reading.value, "f"),
                    "unit": reading.unit, "quality": [], **reading.detail, **extra}
            await self._queue.put(DeviceEvent(KIND, data, device_time))

    def _meter_time(self, meter: MeterSpec, clock: datetime | None) -> tuple[datetime | None, dict[str, str]]:
        """The meter's clock as device_time when it agrees with the gateway's, else only as data."""
        if clock is None:
            return None, {}
        aware = clock.replace(tzinfo=self.options.timezone)
        skew = aware.timestamp() - self._wall()
        if abs(skew) <= self.options.max_clock_skew_s:
            self.health[meter.id].clock_skew_s = None
            return aware, {}
        health = self.health[meter.id]
        if health.clock_skew_s is None:
            self.log.warning("%s: meter %s clock is %+.0fs off the gateway's; its readings carry the gateway's "
                             "time instead", self.device_id, meter.id, skew)
        health.clock_skew_s = round(skew)
        return None, {"meter_clock": aware.isoformat()}

    def _succeeded(self, meter: MeterSpec) -> None:
        health = self.health[meter.id]
        if health.failures:
            self.log.info("%s: meter %s (%s) answering again after %d failed poll(s)", self.device_id, meter.id,
                          meter.reader.label, health.failures)
        recovered = health.failures > 0
        health.state, health.failures, health.last_ok, health.retry_in_s = "ok", 0, self._wall(), None
        health.last_error = None
        if recovered:
            self._show_state()

    def _failed(self, meter: MeterSpec, exc: MeterError, retry_in: float) -> None:
        health = self.health[meter.id]
        health.failures += 1
        health.state = "silent" if exc.reason == "timeout" else "refused" if exc.reason == "refused" else "garbled"
        health.last_error, health.retry_in_s = str(exc), retry_in
        self.stats.reject(exc.reason)
        per_meter = f"{meter.id}:{exc.reason}"
        self.stats.rejections[per_meter] = self.stats.rejections.get(per_meter, 0) + 1
        loud = health.failures == 1 or health.failures % LOG_EVERY == 0
        self.log.log(logging.WARNING if loud else logging.DEBUG, "%s: meter %s (%s) %s: %s (%d in a row); next try "
                     "in %.1fs", self.device_id, meter.id, meter.reader.label, health.state, exc, health.failures,
                     retry_in)
        self.stats.last_error = f"{meter.id}: {exc}"
        self._show_state()

    def _show_state(self) -> None:
        """Put each failing meter's state in the heartbeat's `state`: "degraded: m3=silent (12), ..."."""
        failing = [f"{meter}={h.state} ({h.failures})" for meter, h in self.health.items() if h.failures]
        self.stats.state = f"degraded: {', '.join(failing)}" if failing else "online"

    def _stray(self, size: int) -> None:
        self.stats.reject("stray")

    async def _emit_loop(self, queue: asyncio.Queue[DeviceEvent | None]) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            events = [event for event in batch if event is not None]
            # Readings taken together are captured together: one outbox commit, order kept.
            await asyncio.gather(*(self._emit(event) for event in events))
            for _ in batch:
                queue.task_done()
            if len(events) < len(batch):
                return

    async def _stop(self, emitter: asyncio.Task[None]) -> None:
        """Let readings already taken reach the gateway (for at most DRAIN_S), then stop the hand-off."""
        assert self._queue is not None
        if not emitter.done():
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(emitter), DRAIN_S)
        emitter.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await emitter
