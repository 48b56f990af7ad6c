"""One gateway process: outbox, capture, uplink, drivers and the systemd watchdog, started and stopped together."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from drivers.base import DeviceEvent
from edge_config import GatewayConfig
from estatelink import sdnotify, wire
from gateway.access_runtime import AccessRuntime
from gateway.capture import AsyncOutbox, Capture
from gateway.commands import CommandRouter
from gateway.drivers import FACTORIES
from gateway.outbox import Captured, Outbox
from gateway.supervisor import Supervisor
from gateway.uplink import Uplink

log = logging.getLogger("gateway")
NEAR_FULL_REARM_MARGIN = 0.05
GIL_SWITCH_INTERVAL_S = 0.001
"""Doors are decided on the event loop's thread; when the outbox thread holds the GIL (draining a backlog),
Python's default 5 ms switch interval would be added to a tap's time to the lock."""


class Gateway:
    """Wires the parts of one gateway together."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        box = config.outbox
        self.outbox = AsyncOutbox(Outbox(box.path, estate=config.estate.id, gateway=config.gateway.id,
                                         max_events=box.max_events, synchronous=box.synchronous))
        self.capture = Capture(self.outbox, self._on_captured)
        self.commands = CommandRouter()
        self.access: AccessRuntime | None = None
        if config.access is not None:
            self.access = AccessRuntime(config, self.capture, self.commands,
                                        lambda device: self.supervisor.driver(device))
        self.supervisor = Supervisor(self.access.factories(FACTORIES) if self.access else FACTORIES,
                                     self.access.emitter if self.access else self.capture.emitter)
        self.uplink = Uplink(config, self.outbox, self.commands, self.state)
        self._near_full = False
        self.started_at = wire.utc_now()
        self._tasks: list[asyncio.Task[Any]] = []

    async def state(self) -> dict[str, Any]:
        """What the heartbeat reports."""
        state = {"config_version": self.config.config_version, "started_at": self.started_at,
                 "outbox": await self.outbox.call(self.outbox.outbox.stats),
                 "devices": self.supervisor.states()}
        if self.access is not None:
            state["access"] = await self.access.state()
        return state

    def _on_captured(self, captured: list[Captured]) -> None:
        self.uplink.offer_live(captured)
        box = self.outbox.outbox
        fill = box.depth / box.max_events
        if not self._near_full and fill >= self.config.outbox.warn_fraction:
            self._near_full = True
            log.error("outbox %.0f%% full (%d of %d events)", fill * 100, box.depth, box.max_events)
            event = DeviceEvent("outbox.near_full", {"depth": box.depth, "max_events": box.max_events})
            self._tasks.append(asyncio.ensure_future(self.capture.emit("gateway", event)))
        elif self._near_full and fill < self.config.outbox.warn_fraction - NEAR_FULL_REARM_MARGIN:
            self._near_full = False

    async def run(self) -> None:
        """Run until cancelled."""
        log.info("gateway %s/%s starting: %d device(s), outbox %s", self.config.estate.id,
                 self.config.gateway.id, len(self.config.devices), self.config.outbox.path)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.capture.run(), name="capture")
                tasks.create_task(self.uplink.run(), name="uplink")
                tasks.create_task(self.supervisor.run(self.config.devices), name="supervisor")
                tasks.create_task(sdnotify.run_watchdog(self._healthy), name="watchdog")
                if self.access is not None:
                    tasks.create_task(self.access.run(), name="access")
                sdnotify.ready()
        finally:
            sdnotify.stopping()
            await self.outbox.close()

    def _healthy(self) -> bool:
        # The ping runs on the event loop, so a wedged loop already stops it; a dead outbox writer must too.
        return self.outbox.healthy


async def serve(config: GatewayConfig) -> None:
    """Run a gateway until SIGINT or SIGTERM."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    gateway = Gateway(config)
    main = asyncio.ensure_future(gateway.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    try:
        await main
    except asyncio.CancelledError:
        log.info("gateway stopped")
