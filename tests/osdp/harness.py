"""Runs an OSDP bus adapter against simulated readers on a real pty, and collects what it emits."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from drivers.base import DeviceEvent, DriverStats
from drivers.osdp import OsdpBusAdapter, ReaderSpec

TIMEOUT = 10.0
OFFLINE_TIMEOUT = 25.0
"""libosdp decides a silent reader is offline after about 8 s of unanswered probes; a loaded machine adds more."""


class Harness:
    """An adapter running in a task, with every event it emitted in `seen`."""

    def __init__(self, port: str, readers: list[ReaderSpec], **options: Any) -> None:
        self.queue: asyncio.Queue[DeviceEvent] = asyncio.Queue()
        self.seen: list[DeviceEvent] = []
        self.stats = DriverStats()
        options.setdefault("retry_s", (0.2, 0.5))
        self.adapter = OsdpBusAdapter("gate-osdp", port, readers=readers, emit=self.queue.put, stats=self.stats,
                                      **options)
        self.task = asyncio.create_task(self.adapter.run())

    async def next(self, kind: str, pd: str | None = None, timeout: float = TIMEOUT) -> DeviceEvent:
        """The next event of `kind` (from reader `pd`), skipping others (they stay in `seen`)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                self.seen.append(event)
                if event.kind == kind and (pd is None or event.data["pd"] == pd):
                    return event

    async def online(self, *pds: str) -> None:
        """Wait until each of the readers has come online."""
        waiting = set(pds)
        while waiting:
            waiting.discard((await self.next("reader.online")).data["pd"])

    def kinds(self) -> list[str]:
        """The kinds of the events emitted so far, including any not yet taken by next()."""
        while not self.queue.empty():
            self.seen.append(self.queue.get_nowait())
        return [event.kind for event in self.seen]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait for a condition that no event announces, checking often."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
