"""CJ/T 188-2004 meters (water meters first) on the bus: one 901FH read per poll."""
from __future__ import annotations

from datetime import datetime

from drivers.cjt188 import codec as cjt188
from drivers.meter_bus.errors import GarbledReply, MeterError, MeterRefused, MeterSilent
from drivers.meter_bus.line import BusLine
from drivers.meter_bus.reading import Reading

_REPLY_SIZE = cjt188.MAX_PREAMBLE + 13 + 22  # wake-up bytes, 68 T A0..A6 C L CS 16, the 901FH data
REGISTER = "cumulative_flow"
"""The name a CJ/T 188 reading goes by: the meter's current cumulative flow."""


def _addressed(requested: str, answering: str) -> bool:
    return all(requested[i:i + 2] in ("AA", answering[i:i + 2]) for i in range(0, 14, 2))


class _Answer:
    """Waits for the 901FH answer of the meter at `address`."""

    def __init__(self, address: str, di_order: cjt188.DiOrder) -> None:
        self.address = address
        self._decoder = cjt188.Cjt188Decoder(di_order=di_order)
        self._noise = False

    def feed(self, data: bytes) -> cjt188.MeterData | None:
        for item in self._decoder.feed(data):
            if isinstance(item, cjt188.Rejected):
                if item.reason == "noise":  # line noise may precede a good frame: keep listening
                    self._noise = True
                    continue
                raise GarbledReply(f"{item.reason} in a {len(item.raw)}-byte frame", reason=item.reason)
            # SER is not checked: meters that do not echo it are common, and stale replies are already
            # discarded while the line settles before each request.
            if isinstance(item, cjt188.MeterData) and _addressed(self.address, item.address):
                return item
            if isinstance(item, cjt188.ErrorReply) and _addressed(self.address, item.address):
                raise MeterRefused(f"meter {item.address} refused the 901FH read (status {item.status.raw:#06x})")
        return None

    def expired(self) -> MeterError:
        if self._decoder.buffered:
            return GarbledReply(f"an incomplete reply ({self._decoder.buffered} bytes)", reason="truncated")
        if self._noise:
            return GarbledReply("noise and no reply", reason="noise")
        return MeterSilent("no reply to the 901FH read")


class Cjt188Reader:
    """Reads one meter's cumulative flow, status and clock."""

    def __init__(self, address: str, *, meter_type: int = cjt188.COLD_WATER, di_order: cjt188.DiOrder = "big",
                 response_s: float = 1.0, preamble: int = cjt188.MAX_PREAMBLE) -> None:
        self.address = cjt188.normalize_address(address)
        if not 0 <= meter_type <= 0xFF:
            raise ValueError(f"meter {self.address}: a meter type is one byte, not {meter_type!r}")
        self.meter_type, self.di_order, self.response_s, self.preamble = meter_type, di_order, response_s, preamble
        self.label = self.address
        self._ser = 0

    async def poll(self, line: BusLine, out: list[Reading]) -> datetime | None:
        """One 901FH read: the current cumulative flow, with the valve and battery status alongside."""
        self._ser = (self._ser + 1) & 0xFF
        request = cjt188.encode_read_request(self.meter_type, self.address, ser=self._ser, di_order=self.di_order,
                                             preamble=self.preamble)
        reply: cjt188.MeterData = await line.transact(request, _Answer(self.address, self.di_order),
                                                      reply_size=_REPLY_SIZE, allowance_s=self.response_s)
        status = {"valve": reply.status.valve, "battery_low": reply.status.battery_low}
        out.append(Reading(REGISTER, reply.current.value, reply.current.unit,
                           {"address": reply.address, "status": status}))
        return reply.clock
