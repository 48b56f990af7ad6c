"""What goes wrong on a meter bus: the line itself (TransportError, from drivers.base) or one meter's answer."""
from __future__ import annotations

from drivers.base import DriverError, RemoteProtocolError


class MeterError(DriverError):
    """One meter's transaction failed; the bus carries on. `reason` is a short stable code for the counters."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class MeterSilent(MeterError):
    """No reply before the deadline: a dead meter, a cut cable or a wrong address."""

    reason = "timeout"


class GarbledReply(MeterError, RemoteProtocolError):
    """Bytes came back but not a valid reply (bad checksum or CRC, noise, a truncated frame, a bad value)."""

    reason = "garbled"


class MeterRefused(MeterError, RemoteProtocolError):
    """The meter answered with its protocol's error reply (DL/T 645 D1H, CJ/T 188 C1H, a Modbus exception)."""

    reason = "refused"
