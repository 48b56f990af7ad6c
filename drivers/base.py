"""What every driver hands to the gateway, and the errors drivers raise."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A typed event produced by a device, before the gateway gives it a sequence number."""

    kind: str
    data: Mapping[str, Any]
    device_time: datetime | None = None


Emit = Callable[[DeviceEvent], Awaitable[None]]
"""Hands an event to the gateway; returns once the event is safely captured (on disk)."""


@dataclass(slots=True)
class DriverStats:
    """Counters a driver keeps for the gateway heartbeat."""

    state: str = "starting"
    frames_ok: int = 0
    frames_rejected: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None

    def reject(self, reason: str) -> None:
        self.frames_rejected += 1
        self.rejections[reason] = self.rejections.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "frames_ok": self.frames_ok,
            "frames_rejected": self.frames_rejected,
            "rejections": dict(self.rejections),
            "last_error": self.last_error,
        }


class DriverError(Exception):
    """Base of every driver error."""


class TransportError(DriverError):
    """The line or socket to the device failed; the supervisor restarts the driver with backoff."""


class RemoteProtocolError(DriverError):
    """The device sent bytes that break its protocol."""


class LocalProtocolError(DriverError):
    """We were asked to send something the protocol cannot carry."""
