"""DL/T 645-2007 meters on the bus: one read-data (11H) transaction per data identifier."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import TypeVar

from drivers.dlt645 import codec as dlt645
from drivers.meter_bus.errors import GarbledReply, MeterError, MeterRefused, MeterSilent
from drivers.meter_bus.line import BusLine
from drivers.meter_bus.reading import Reading

_FRAME = 16  # 68, A0..A5, 68, C, L, DI (4 bytes), CS, 16: a read reply without its value
_CLOCK_DIS = (dlt645.DI_DATE, dlt645.DI_TIME)
_AFTER_MIDNIGHT = time(0, 0, 10)
"""A time read this soon after midnight may follow a date read before it, so the date is read again."""
T = TypeVar("T")
READABLE: dict[str, int] = {r.name: di for di, r in dlt645.REGISTERS.items() if di not in _CLOCK_DIS}
"""The data identifiers a meter's `read` list may name, by register name."""


def _addressed(requested: str, answering: str) -> bool:
    return all(requested[i:i + 2] in ("AA", answering[i:i + 2]) for i in range(0, 12, 2))


def _expect(reply: dlt645.ReadReply, kind: type[T]) -> T:
    """The reply's value, which REGISTERS says is a `kind` for its DI."""
    if not isinstance(reply.value, kind):
        raise GarbledReply(f"DI {reply.di:08X} carried {reply.value!r}", reason="bad_value")
    return reply.value


class _Answer:
    """Waits for the reply of the meter at `address` to a read of `di`."""

    def __init__(self, address: str, di: int) -> None:
        self.address, self.di = address, di
        self._decoder = dlt645.Dlt645Decoder()
        self._noise = False

    def feed(self, data: bytes) -> dlt645.ReadReply | None:
        for item in self._decoder.feed(data):
            if isinstance(item, dlt645.Rejected):
                if item.reason == "noise":  # line noise may precede a good frame: keep listening
                    self._noise = True
                    continue
                raise GarbledReply(f"{item.reason} in a {len(item.raw)}-byte frame", reason=item.reason)
            if isinstance(item, dlt645.ReadReply) and item.di == self.di and _addressed(self.address, item.address):
                if item.value is None:
                    raise GarbledReply(f"no value for DI {self.di:08X}", reason="bad_value")
                return item
            if isinstance(item, dlt645.ErrorReply) and _addressed(self.address, item.address):
                flags = ", ".join(item.errors) or f"code {item.code:#04x}"
                raise MeterRefused(f"meter {item.address} refused DI {self.di:08X}: {flags}")
            # Anything else is not ours: our own request echoed by the adapter, or another meter's frame.
        return None

    def expired(self) -> MeterError:
        if self._decoder.buffered:
            return GarbledReply(f"an incomplete reply ({self._decoder.buffered} bytes)", reason="truncated")
        if self._noise:
            return GarbledReply("noise and no reply", reason="noise")
        return MeterSilent(f"no reply to DI {self.di:08X}")


class Dlt645Reader:
    """Reads the data identifiers `dis` (and, with `read_clock`, the date and time) of one meter."""

    def __init__(self, address: str, dis: Sequence[int], *, read_clock: bool = False, response_s: float = 0.5,
                 preamble: int = dlt645.MAX_PREAMBLE) -> None:
        self.address = dlt645.normalize_address(address)
        if unknown := [f"{di:08X}" for di in dis if di not in dlt645.REGISTERS or di in _CLOCK_DIS]:
            raise ValueError(f"meter {self.address}: no readable register for DI {', '.join(unknown)}")
        if not dis:
            raise ValueError(f"meter {self.address}: nothing to read")
        self.dis, self.read_clock, self.response_s, self.preamble = tuple(dis), read_clock, response_s, preamble
        self.label = self.address

    async def poll(self, line: BusLine, out: list[Reading]) -> datetime | None:
        """Read the clock if asked, then each data identifier in turn."""
        clock = await self._clock(line) if self.read_clock else None
        for di in self.dis:
            reply = await self._read(line, di)
            register = dlt645.REGISTERS[di]
            value = _expect(reply, Decimal)
            out.append(Reading(register.name, value, register.unit, {"di": f"{di:08X}", "address": reply.address}))
        return clock

    async def _clock(self, line: BusLine) -> datetime:
        day = _expect(await self._read(line, dlt645.DI_DATE), date)
        moment = _expect(await self._read(line, dlt645.DI_TIME), time)
        if moment < _AFTER_MIDNIGHT:
            day = _expect(await self._read(line, dlt645.DI_DATE), date)
        return datetime.combine(day, moment)

    async def _read(self, line: BusLine, di: int) -> dlt645.ReadReply:
        request = dlt645.encode_read_request(self.address, di, preamble=self.preamble)
        reply_size = dlt645.MAX_PREAMBLE + _FRAME + dlt645.REGISTERS[di].wire.size
        return await line.transact(request, _Answer(self.address, di), reply_size=reply_size,
                                   allowance_s=self.response_s)
