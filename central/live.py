"""Stored events pushed to the pages watching an estate: the gatehouse console's live stream.

Ingest hands every committed group to `LiveFeed.publish`; each watcher (one per open console) has a bounded
queue. A watcher that cannot keep up loses its oldest events, never slows ingest, and is told how many it
lost, so the page can say "reload for the full list". Only events newer than what central had already
acknowledged are published, so a gateway's redelivery does not show a tap twice.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

QUEUE_LIMIT = 1000
LIVE_KINDS_PREFIXES = ("access.", "card.", "door.", "device.", "reader.", "visitor.")
"""What a console shows: taps and decisions, doors, and the devices' own alarms."""


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def live_event(row: dict[str, Any]) -> dict[str, Any]:
    """An ingest row in the shape GET /events answers with."""
    return {"id": row["uuid"], "estate": row["estate"], "gateway": row["gateway"], "seq": row["seq"],
            "device": row["device"], "kind": row["kind"], "device_time": _utc(row["device_time"]),
            "received_at": _utc(row["received_at"]), "stored_at": _utc(row["stored_at"]), "data": row["data"]}


def is_live_kind(kind: str) -> bool:
    return kind.startswith(LIVE_KINDS_PREFIXES)


@dataclass(eq=False)
class Watcher:
    estate: str
    queue: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=QUEUE_LIMIT))
    lost: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, event: dict[str, Any]) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.lost += 1
        self.queue.append(event)
        self.wake.set()

    closed: bool = False

    async def next_batch(self, timeout: float) -> list[dict[str, Any]] | None:
        """What arrived since the last call, waiting up to `timeout` seconds; None once the feed closes."""
        if self.closed:
            return None
        if not self.queue:
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                return []
            if self.closed:
                return None
        batch = list(self.queue)
        self.queue.clear()
        return batch


class LiveFeed:
    """Fan-out of stored events to the watchers of each estate."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[Watcher]] = {}
        self.published = 0

    def watch(self, estate: str) -> Watcher:
        watcher = Watcher(estate)
        self._watchers.setdefault(estate, set()).add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.estate)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[watcher.estate]

    def close(self) -> None:
        """End every watcher's stream (central is shutting down)."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.closed = True
                watcher.wake.set()

    def watching(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    def publish(self, rows: Iterable[dict[str, Any]]) -> None:
        """Hand committed event rows to the watchers of their estates (cheap when nobody watches)."""
        if not self._watchers:
            return
        for row in rows:
            watchers = self._watchers.get(row["estate"])
            if watchers and is_live_kind(row["kind"]):
                event = live_event(row)
                for watcher in watchers:
                    watcher.push(event)
                self.published += 1
