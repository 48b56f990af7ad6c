"""What a poll of one meter yields, and what every protocol's meter reader offers the bus owner."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from drivers.meter_bus.line import BusLine


@dataclass(frozen=True, slots=True)
class Reading:
    """One value a meter reported: the register's name, the value as the meter sent it, its unit."""

    register: str
    value: Decimal
    unit: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Protocol facts worth keeping with the value: the answering address, a data identifier, a status."""


class MeterReader(Protocol):
    """Reads one meter through the bus owner's line."""

    label: str
    """How logs name the meter on the wire: its address or unit id."""

    async def poll(self, line: BusLine, out: list[Reading]) -> datetime | None:
        """Append each reading as it arrives to `out`; return the meter's clock (naive, its local time) if read.

        A failed transaction raises MeterError (or TransportError) after the readings already appended,
        which the caller keeps: good values are never dropped because a later one failed.
        """
