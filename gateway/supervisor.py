"""Starts each configured driver and restarts a failed one with backoff, never disturbing the others."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from drivers.base import DriverError, DriverStats, Emit
from edge_config import DeviceConfig

log = logging.getLogger("gateway.supervisor")
STABLE_AFTER_S = 10.0
"""A driver must have stayed up this long (or backoff_max_s, if shorter) for its next failure to restart fast."""


class Driver(Protocol):
    async def run(self) -> None: ...


DriverFactory = Callable[[DeviceConfig, Emit, DriverStats], Driver]


@dataclass
class Supervised:
    device: DeviceConfig
    stats: DriverStats
    restarts: int = 0
    driver: Driver | None = None
    """The running adapter, for those who call into it (the access runtime pulsing a lock)."""


class Supervisor:
    """One task per device; a crash or transport failure restarts that device alone, with backoff."""

    def __init__(self, factories: dict[str, DriverFactory], emitter: Callable[[str], Emit], *,
                 backoff_min_s: float = 0.5, backoff_max_s: float = 30.0) -> None:
        self._factories = factories
        self._emitter = emitter
        self._backoff = (backoff_min_s, backoff_max_s)
        self.devices: dict[str, Supervised] = {}

    async def run(self, devices: tuple[DeviceConfig, ...]) -> None:
        async with asyncio.TaskGroup() as tasks:
            for device in devices:
                if not device.enabled:
                    continue
                self.devices[device.id] = Supervised(device, DriverStats())
                tasks.create_task(self._keep_running(self.devices[device.id]), name=f"driver:{device.id}")

    async def _keep_running(self, entry: Supervised) -> None:
        delay = self._backoff[0]
        factory = self._factories[entry.device.driver]
        loop = asyncio.get_running_loop()
        stable_after = min(STABLE_AFTER_S, self._backoff[1])
        while True:
            entry.stats.state = "starting"
            started = loop.time()
            try:
                entry.driver = factory(entry.device, self._emitter(entry.device.id), entry.stats)
                await entry.driver.run()
                reason = "driver returned"
            except DriverError as exc:
                reason = str(exc)
            except Exception as exc:  # a driver bug must not take the gateway or its neighbours down
                log.exception("driver %s crashed", entry.device.id)
                reason = f"crashed: {exc!r}"
            finally:
                entry.driver = None
            if entry.stats.state == "online" and loop.time() - started >= stable_after:
                delay = self._backoff[0]  # it had worked for a while: a fresh failure starts the backoff again
            entry.stats.state = "offline"
            entry.stats.last_error = reason
            entry.restarts += 1
            log.warning("device %s offline (%s); restarting in %.1fs", entry.device.id, reason, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, self._backoff[1])

    def driver(self, device_id: str) -> Driver | None:
        """The adapter running for a device right now, or None (not started, disabled, or restarting)."""
        entry = self.devices.get(device_id)
        return entry.driver if entry is not None else None

    def states(self) -> dict[str, dict[str, Any]]:
        return {device_id: {**entry.stats.as_dict(), "restarts": entry.restarts}
                for device_id, entry in self.devices.items()}
