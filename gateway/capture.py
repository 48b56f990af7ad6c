"""Group commit: drivers hand events in, one task writes them to the outbox together, then says 'captured'.

All outbox access runs on one worker thread, so an fsync never blocks the event loop and the SQLite
connection is never shared between threads at once.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from drivers.base import DeviceEvent
from estatelink import wire
from gateway.outbox import Captured, Outbox, PendingEvent

log = logging.getLogger("gateway.capture")
T = TypeVar("T")
MAX_GROUP = 2000


class AsyncOutbox:
    """Runs every outbox call on one dedicated thread."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self.healthy = True

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))
        except Exception:
            self.healthy = False
            raise
        self.healthy = True
        return result

    async def close(self) -> None:
        await self.call(self.outbox.close)
        self._executor.shutdown(wait=True)


class Capture:
    """The gateway's single entry for events: `await capture.emit(device, event)` returns once on disk."""

    def __init__(self, outbox: AsyncOutbox, on_captured: Callable[[list[Captured]], None]) -> None:
        self._outbox = outbox
        self._on_captured = on_captured
        self._queue: list[tuple[PendingEvent, asyncio.Future[Captured]]] = []
        self._wakeup = asyncio.Event()

    def emitter(self, device: str) -> Callable[[DeviceEvent], Any]:
        """The `emit` callable handed to one device's driver."""
        return partial(self.emit, device)

    async def emit(self, device: str, event: DeviceEvent) -> Captured:
        future: asyncio.Future[Captured] = asyncio.get_running_loop().create_future()
        self._queue.append((PendingEvent(device, event, wire.utc_now()), future))
        self._wakeup.set()
        return await future

    async def run(self) -> None:
        """Commit whatever has queued, as one transaction, for as long as the gateway runs."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                try:
                    captured = await self._outbox.call(self._outbox.outbox.append_many, [p for p, _ in group])
                except Exception as exc:  # the events were not captured: every waiting driver hears why
                    log.error("outbox write failed for %d events: %s", len(group), exc)
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), item in zip(group, captured):
                    if not future.done():
                        future.set_result(item)
                self._on_captured(captured)
