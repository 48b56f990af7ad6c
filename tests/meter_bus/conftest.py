"""What the meter bus tests share: a guard against leftovers, and a harness that runs an adapter."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from drivers.base import DeviceEvent, DriverStats
from drivers.meter_bus import BusOptions, LineSpec, MeterBusAdapter, MeterSpec
from tests.support.leftovers import no_leftovers  # noqa: F401  (autouse)

TIMEOUT = 10.0


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait for a condition that no event announces, checking often, for at most `timeout`."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


class Bus:
    """Runs a MeterBusAdapter in a task and keeps what it emits, with the loop time each event arrived."""

    def __init__(self, line: LineSpec, meters: Sequence[MeterSpec], **options: Any) -> None:
        self.events: list[tuple[float, DeviceEvent]] = []
        self.stats = DriverStats()
        self.adapter = MeterBusAdapter("bus-1", line, meters, emit=self._emit, stats=self.stats,
                                       options=BusOptions(**options))
        self.task: asyncio.Task[None] | None = None

    async def _emit(self, event: DeviceEvent) -> None:
        self.events.append((asyncio.get_running_loop().time(), event))

    async def __aenter__(self) -> Bus:
        self.task = asyncio.create_task(self.adapter.run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def readings(self, meter: str) -> list[DeviceEvent]:
        """The events emitted for one meter, in order."""
        return [event for _, event in self.events if event.data["meter"] == meter]

    def values(self, meter: str) -> list[str]:
        """The values emitted for one meter, in order."""
        return [event.data["value"] for event in self.readings(meter)]

    async def wait_for(self, meter: str, count: int = 1, timeout: float = TIMEOUT) -> list[DeviceEvent]:
        """Wait until `meter` has at least `count` readings; return them all."""
        await until(lambda: len(self.readings(meter)) >= count or (self.task is not None and self.task.done()),
                    timeout)
        if self.task is not None and self.task.done():
            self.task.result()
        return self.readings(meter)

    async def wait_for_value(self, meter: str, value: str, timeout: float = TIMEOUT) -> None:
        """Wait until `meter` reports `value`."""
        await until(lambda: value in self.values(meter), timeout)
