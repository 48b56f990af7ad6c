"""The sans-I/O half of the I/O module driver: which discrete inputs changed between two polls.

A poll returns the module's inputs as bits. The first poll after a (re)connect reports every input (marked
`initial`: the state was unknown until now, so it is not a change anyone saw happen); later polls report
only the inputs whose bit differs from the previous poll. Bits past `count` (Modbus pads a reply to whole
bytes) are ignored, and a short reply is a protocol error of the module's, not ours.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drivers.base import RemoteProtocolError

KIND = "io.input"
"""The event kind of an input change; the access runtime consumes these (they are not written to the outbox)."""


@dataclass(frozen=True, slots=True)
class InputChange:
    """Discrete input `input` now reads `on`; `initial` when it is the first reading since (re)connecting."""

    input: int
    on: bool
    initial: bool = False

    def data(self) -> dict[str, object]:
        """The event data of this change."""
        return {"input": self.input, "on": self.on, "initial": self.initial}


class InputTracker:
    """Remembers the last poll and turns each new one into the list of changes."""

    def __init__(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"an input count is 0 or more, not {count}")
        self.count = count
        self._last: tuple[bool, ...] | None = None

    @property
    def last(self) -> tuple[bool, ...] | None:
        """The inputs as last polled; None before the first poll after a reset."""
        return self._last

    def reset(self) -> None:
        """Forget the last poll (the module went away): the next poll is reported whole, as initial."""
        self._last = None

    def update(self, bits: Sequence[bool]) -> list[InputChange]:
        """Take one poll's bits; return the inputs that changed (all of them, initial, after a reset)."""
        if len(bits) < self.count:
            raise RemoteProtocolError(f"asked for {self.count} inputs, the reply carries {len(bits)}")
        now = tuple(bool(bit) for bit in bits[:self.count])
        before, self._last = self._last, now
        if before is None:
            return [InputChange(index, value, initial=True) for index, value in enumerate(now)]
        return [InputChange(index, value) for index, (old, value) in enumerate(zip(before, now)) if old != value]
