"""Pure models of a DL/T 645-2007 electricity meter and a CJ/T 188-2004 water meter.

Each model holds one meter's state and answers request bytes with the bytes that meter would put on
the line (`respond`). Requests may arrive cut anywhere: each model keeps its own decoder, so a request
split over two calls is answered by the second. Nothing here opens a port, sleeps or reads the wall
clock; a later step puts the models on a pseudo-terminal, and tests drive them directly.

* The counter (energy in kWh, volume in m³) moves only when told (`advance`), so tests drive time. It
  rolls over to zero past its register's capacity (999999.99 for both), as the meters' registers do.
* `replace()` models a meter swap on the same wiring: a new address and the counter back to zero (or to
  the new meter's reading). The silent and garbled flags are left as they are.
* `silent` makes the meter hear and answer nothing (dead meter, cut cable); `garbled` makes it answer
  with the checksum byte inverted (a noisy line).
* A request is answered only when its address matches byte by byte, AA matching anything (CJ/T 188
  also needs the meter type, or AAH). A data identifier the meter does not hold gets the protocol's
  error answer. Bytes that are not a request to this meter get no answer, as on a shared bus.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import cast

from drivers.base import LocalProtocolError
from drivers.cjt188 import codec as cjt188
from drivers.dlt645 import codec as dlt645

ENERGY = cast(dlt645.Bcd33, dlt645.REGISTERS[dlt645.DI_FORWARD_ACTIVE_TOTAL].wire)


def _own_address(address: str, normalize: Callable[[str], str]) -> str:
    text = normalize(address)
    if "AA" in (text[i:i + 2] for i in range(0, len(text), 2)):
        raise LocalProtocolError(f"a meter's own address has no wildcard byte: {address!r}")
    return text


def _addressed(requested: str, own: str) -> bool:
    return all(requested[i:i + 2] in ("AA", own[i:i + 2]) for i in range(0, len(own), 2))


def _advance(counter: Decimal, step: Decimal, steps: int, capacity: Decimal) -> Decimal:
    if steps < 0:
        raise ValueError("a meter's counter only moves forward")
    return (counter + step * steps) % capacity


def _garble(frame: bytes) -> bytes:
    return frame[:-2] + bytes((frame[-2] ^ 0xFF, frame[-1]))


@dataclass(slots=True)
class Dlt645Meter:
    """A DL/T 645-2007 electricity meter answering read-data requests."""

    address: str = "000000000161"
    energy: Decimal = Decimal("0.00")
    step: Decimal = Decimal("0.01")
    voltage: Decimal = Decimal("230.0")
    current: Decimal = Decimal("1.250")
    power: Decimal = Decimal("0.2875")
    clock: datetime = datetime(2024, 1, 1)
    preamble: int = 0
    silent: bool = False
    garbled: bool = False
    _decoder: dlt645.Dlt645Decoder = field(
        default_factory=dlt645.Dlt645Decoder, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.address = _own_address(self.address, dlt645.normalize_address)
        ENERGY.encode(self.energy)
        ENERGY.encode(self.step)

    def advance(self, steps: int = 1) -> None:
        """Count `steps` steps of energy, rolling over past 999999.99 kWh."""
        self.energy = _advance(self.energy, self.step, steps, ENERGY.capacity)

    def replace(self, address: str, *, energy: Decimal = Decimal("0.00")) -> None:
        """Swap in a new meter: a new address and its own energy reading."""
        self.address = _own_address(address, dlt645.normalize_address)
        ENERGY.encode(energy)
        self.energy = energy

    def readings(self) -> Mapping[int, dlt645.Value]:
        """What the meter answers, by data identifier."""
        return {
            dlt645.DI_COMBINED_ACTIVE_TOTAL: self.energy,
            dlt645.DI_FORWARD_ACTIVE_TOTAL: self.energy,
            dlt645.DI_VOLTAGE_A: self.voltage,
            dlt645.DI_CURRENT_A: self.current,
            dlt645.DI_ACTIVE_POWER_TOTAL: self.power,
            dlt645.DI_DATE: self.clock.date(),
            dlt645.DI_TIME: self.clock.time().replace(microsecond=0),
        }

    def respond(self, request: bytes) -> bytes | None:
        """The bytes the meter sends back for the requests `request` completes, or None when it stays quiet."""
        if self.silent:
            return None
        answers = [
            self._answer(frame) for frame in self._decoder.feed(request)
            if isinstance(frame, dlt645.ReadRequest) and _addressed(frame.address, self.address)
        ]
        if not answers:
            return None
        return b"".join(_garble(answer) if self.garbled else answer for answer in answers)

    def _answer(self, request: dlt645.ReadRequest) -> bytes:
        value = self.readings().get(request.di)
        if value is None:
            return dlt645.encode_error_reply(self.address, ["no_data"], preamble=self.preamble)
        return dlt645.encode_read_reply(self.address, request.di, value, preamble=self.preamble)


@dataclass(slots=True)
class Cjt188Meter:
    """A CJ/T 188-2004 water meter answering 901FH reads."""

    address: str = "00000000000001"
    meter_type: int = cjt188.COLD_WATER
    volume: Decimal = Decimal("0.00")
    step: Decimal = Decimal("0.01")
    settlement: Decimal = Decimal("0.00")
    clock: datetime | None = datetime(2024, 1, 1)
    valve: cjt188.Valve = "open"
    battery_low: bool = False
    di_order: cjt188.DiOrder = "big"
    preamble: int = 0
    silent: bool = False
    garbled: bool = False
    _decoder: cjt188.Cjt188Decoder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.address = _own_address(self.address, cjt188.normalize_address)
        self._decoder = cjt188.Cjt188Decoder(di_order=self.di_order)
        cjt188.FLOW.encode(self.volume)
        cjt188.FLOW.encode(self.step)

    @property
    def status(self) -> cjt188.Status:
        """The status ST the meter reports."""
        return cjt188.Status.of(self.valve, battery_low=self.battery_low)

    def advance(self, steps: int = 1) -> None:
        """Count `steps` steps of volume, rolling over past 999999.99 m³."""
        self.volume = _advance(self.volume, self.step, steps, cjt188.FLOW.capacity)

    def replace(self, address: str, *, volume: Decimal = Decimal("0.00")) -> None:
        """Swap in a new meter: a new address, its own volume, and no settlement-day reading yet."""
        self.address = _own_address(address, cjt188.normalize_address)
        cjt188.FLOW.encode(volume)
        self.volume, self.settlement = volume, Decimal("0.00")

    def respond(self, request: bytes) -> bytes | None:
        """The bytes the meter sends back for the requests `request` completes, or None when it stays quiet."""
        if self.silent:
            return None
        if self._decoder.di_order != self.di_order:  # switched at run time: start over with the new order
            self._decoder = cjt188.Cjt188Decoder(di_order=self.di_order)
        answers = [
            self._answer(frame) for frame in self._decoder.feed(request)
            if isinstance(frame, cjt188.ReadRequest) and frame.meter_type in (self.meter_type, cjt188.ANY_TYPE)
            and _addressed(frame.address, self.address)
        ]
        if not answers:
            return None
        return b"".join(_garble(answer) if self.garbled else answer for answer in answers)

    def _answer(self, request: cjt188.ReadRequest) -> bytes:
        if request.di != cjt188.DI_METER_DATA:
            return cjt188.encode_error_reply(
                self.meter_type, self.address, ser=request.ser, status=self.status, preamble=self.preamble)
        return cjt188.encode_meter_data(
            self.meter_type, self.address, ser=request.ser, current=cjt188.Quantity(self.volume),
            settlement=cjt188.Quantity(self.settlement), clock=self.clock, status=self.status,
            di_order=self.di_order, preamble=self.preamble,
        )
