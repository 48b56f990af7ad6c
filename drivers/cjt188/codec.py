"""Sans-I/O codec for CJ/T 188-2004 utility meters (water meters first) on an RS-485 or M-Bus line.

Theory of operation: the gateway asks one meter at a time and the meter addressed answers with one
frame. The decoder keeps the bytes it holds until they settle what comes next, so feeding byte by
byte gives the same items as feeding everything at once.

Frame: 0..n wake-up bytes FEH, 68H, meter type T (METER_TYPES), address A0..A6 (14 BCD digits, low
byte first), control C, length L, L data bytes, CS (sum mod 256 from the 68H through the data), 16H.
Unlike DL/T 645 there is no +33H offset.

* Control: D7 set on answers, D6 when the answer reports a fault, D5..D0 the function (01H: read
  data). 01H asks with DI (2 bytes) and SER (a sequence byte echoed back); 81H answers with DI, SER and
  the data; C1H refuses with SER and the status ST. Other functions come out as OtherFrame.
* DI byte order differs in the field: some meters send 901FH as 90 1F, others as 1F 90 (CJ/T
  188-2018 sends low byte first), so both the encoders and the decoder take di_order.
* The 901FH answer (22 bytes): DI, SER, current cumulative flow (4 bytes BCD XXXXXX.XX, low byte
  first) and its unit code (UNITS), flow on the settlement day and its unit, the meter's clock (7 bytes
  BCD YYYYMMDDhhmmss, low byte, the seconds, first), ST (2 bytes: in the first, D0..D1 valve 00 open,
  01 closed, 11 abnormal, and D2 battery low; the second is the vendor's).
  Many meters have no clock and send zeros, and some send FFH for a settlement flow they do not keep:
  those come out as None. The current flow is decoded strictly.
* Addresses are 14 characters, high byte first as printed ("78330011223344" is 44 33 22 11 00 33 78
  on the wire). A byte may be AA, the wildcard; type AAH with WILDCARD reaches any meter on the line.
* Framing is DL/T 645's SumFramer (the same 68H ... CS 16H link layer, without the second 68H): a few
  FEH before a frame are dropped, a bad checksum rejects the frame whole, and other bytes are noise,
  one Rejected per run of at most dlt645.codec.MAX_NOISE bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Literal, TypeAlias, cast

from drivers.base import LocalProtocolError
from drivers.sum_frame import END, PREAMBLE, START, SumFramer

MAX_PREAMBLE = 4
"""Most wake-up bytes an encoder sends."""
_HEADER = 11  # 68, T, A0..A6, C, L

READ_DATA = 0x01
REPLY, FAULT = 0x80, 0x40
DI_METER_DATA = 0x901F
WILDCARD = "AAAAAAAAAAAAAA"
ANY_TYPE = 0xAA
COLD_WATER, HOT_WATER = 0x10, 0x11
M3 = 0x2C

DiOrder: TypeAlias = Literal["big", "little"]
RejectReason: TypeAlias = Literal["noise", "bad_checksum", "bad_length", "bad_address", "bad_value", "bad_unit"]
Valve: TypeAlias = Literal["open", "closed", "abnormal", "reserved"]

METER_TYPES: Mapping[int, str] = MappingProxyType({
    0x10: "cold_water",
    0x11: "hot_water",
    0x12: "drinking_water",
    0x13: "reclaimed_water",
    0x20: "heat",
    0x21: "cooling",
    0x30: "gas",
    0x40: "custom",
})

UNITS: Mapping[int, str] = MappingProxyType({
    0x01: "J", 0x02: "Wh", 0x05: "kWh", 0x08: "MWh", 0x0A: "100 MWh",
    0x0B: "kJ", 0x0E: "MJ", 0x11: "GJ", 0x13: "100 GJ",
    0x14: "W", 0x17: "kW", 0x1A: "MW",
    0x29: "L", 0x2C: "m³", 0x32: "L/h", 0x35: "m³/h",
})

VALVES: Mapping[int, Valve] = MappingProxyType({0b00: "open", 0b01: "closed", 0b11: "abnormal", 0b10: "reserved"})
_VALVE_BITS: Mapping[Valve, int] = MappingProxyType({name: bits for bits, name in VALVES.items()})
_BATTERY_LOW = 0x04


def _bcd_bytes(plain: bytes) -> list[int]:
    """Each byte as its two BCD digits (0..99); ValueError on a nibble above 9."""
    if any(byte >> 4 > 9 or byte & 0x0F > 9 for byte in plain):
        raise ValueError("not BCD")
    return [(byte >> 4) * 10 + (byte & 0x0F) for byte in plain]


def _to_bcd(numbers: list[int]) -> bytes:
    return bytes((n // 10) << 4 | n % 10 for n in numbers)


@dataclass(frozen=True, slots=True)
class Bcd:
    """An unsigned number as packed BCD, low byte first, with a fixed number of decimals."""

    size: int
    decimals: int

    @property
    def capacity(self) -> Decimal:
        """One past the largest value the field holds: where a counter in it rolls over."""
        return Decimal(10 ** (2 * self.size)).scaleb(-self.decimals)

    def decode(self, wire: bytes) -> Decimal:
        if len(wire) != self.size:
            raise ValueError(f"expected {self.size} bytes, got {len(wire)}")
        digits = "".join(f"{pair:02d}" for pair in reversed(_bcd_bytes(wire)))
        return Decimal(int(digits)).scaleb(-self.decimals)

    def encode(self, value: Decimal | int) -> bytes:
        if not isinstance(value, Decimal | int) or not Decimal(value).is_finite():
            raise LocalProtocolError(f"a BCD field carries a finite number, not {value!r}")
        scaled = Decimal(value).scaleb(self.decimals)
        if scaled != scaled.to_integral_value() or not 0 <= value < self.capacity:
            raise LocalProtocolError(f"{value} does not fit {self.size} BCD bytes with {self.decimals} decimals")
        digits = f"{int(scaled):0{2 * self.size}d}"
        return _to_bcd([int(digits[i:i + 2]) for i in range(0, len(digits), 2)])[::-1]


FLOW = Bcd(4, 2)
"""The cumulative flow fields of the 901FH answer: XXXXXX.XX."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """A reading and the unit code it was sent with (UNITS)."""

    value: Decimal
    unit_code: int = M3

    @property
    def unit(self) -> str:
        """The unit's symbol, e.g. "m³"."""
        return UNITS[self.unit_code]


@dataclass(frozen=True, slots=True)
class Status:
    """The 2-byte status ST, first byte in the low 8 bits of `raw`."""

    raw: int = 0

    @classmethod
    def of(cls, valve: Valve = "open", *, battery_low: bool = False, vendor: int = 0) -> Status:
        """Build a status from its parts; `vendor` is the second, vendor-defined byte."""
        if valve not in _VALVE_BITS or not 0 <= vendor <= 0xFF:
            raise LocalProtocolError(f"no status for valve {valve!r}, vendor byte {vendor!r}")
        return cls(_VALVE_BITS[valve] | (_BATTERY_LOW if battery_low else 0) | vendor << 8)

    @property
    def valve(self) -> Valve:
        """The valve state from D0..D1 of the first byte."""
        return VALVES[self.raw & 0b11]

    @property
    def battery_low(self) -> bool:
        """D2 of the first byte."""
        return bool(self.raw & _BATTERY_LOW)

    def to_wire(self) -> bytes:
        """The two bytes as sent, first byte first."""
        return self.raw.to_bytes(2, "little")


def _clock_to_wire(clock: datetime | None) -> bytes:
    if clock is None:
        return bytes(7)
    parts = [clock.second, clock.minute, clock.hour, clock.day, clock.month, clock.year % 100, clock.year // 100]
    return _to_bcd(parts)


def _clock_from_wire(wire: bytes) -> datetime | None:
    try:
        second, minute, hour, day, month, year_low, year_high = _bcd_bytes(wire)
        return datetime(year_high * 100 + year_low, month, day, hour, minute, second)
    except ValueError:
        return None


def _di_to_wire(di: int, order: DiOrder) -> bytes:
    if not 0 <= di <= 0xFFFF:
        raise LocalProtocolError(f"a CJ/T 188 data identifier is 2 bytes, not {di:#x}")
    return di.to_bytes(2, order)


def _check_order(order: str) -> DiOrder:
    if order not in ("big", "little"):
        raise ValueError(f"di_order is 'big' or 'little', not {order!r}")
    return cast(DiOrder, order)


def _valid_address(text: str) -> bool:
    pairs = [text[i:i + 2] for i in range(0, 14, 2)]
    return len(text) == 14 and text.isascii() and all(p == "AA" or p.isdigit() for p in pairs)


def normalize_address(address: str) -> str:
    """The address upper-cased (14 digits, a byte may be AA); LocalProtocolError if it cannot be sent."""
    text = address.upper()
    if not _valid_address(text):
        raise LocalProtocolError(f"a CJ/T 188 address is 14 digits, a byte may be AA; got {address!r}")
    return text


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """A master asking the meter of `meter_type` at `address` for data identifier `di`."""

    meter_type: int
    address: str
    di: int
    ser: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class MeterData:
    """A 901FH answer; `settlement` and `clock` are None when the meter sends no valid value for them."""

    meter_type: int
    address: str
    ser: int
    current: Quantity
    settlement: Quantity | None
    clock: datetime | None
    status: Status
    raw: bytes


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A meter refusing a request (C1H), with the SER it answers and its status."""

    meter_type: int
    address: str
    ser: int
    status: Status
    raw: bytes


@dataclass(frozen=True, slots=True)
class OtherFrame:
    """A well-formed frame this codec does not interpret."""

    meter_type: int
    address: str
    control: int
    data: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes from the line that do not make a valid frame, with a short stable reason code."""

    reason: RejectReason
    raw: bytes


Frame: TypeAlias = ReadRequest | MeterData | ErrorReply | OtherFrame
Decoded: TypeAlias = Frame | Rejected


def _read_request(meter_type: int, address: str, control: int, data: bytes, raw: bytes, order: DiOrder) -> Decoded:
    if len(data) != 3:
        return OtherFrame(meter_type, address, control, data, raw)
    return ReadRequest(meter_type, address, int.from_bytes(data[:2], order), data[2], raw)


def _read_reply(meter_type: int, address: str, control: int, data: bytes, raw: bytes, order: DiOrder) -> Decoded:
    if len(data) < 3 or int.from_bytes(data[:2], order) != DI_METER_DATA:
        return OtherFrame(meter_type, address, control, data, raw)
    if len(data) != 22:
        return Rejected("bad_length", raw)
    if data[7] not in UNITS:
        return Rejected("bad_unit", raw)
    try:
        current = Quantity(FLOW.decode(data[3:7]), data[7])
    except ValueError:
        return Rejected("bad_value", raw)
    try:
        settlement: Quantity | None = Quantity(FLOW.decode(data[8:12]), data[12])
    except ValueError:
        settlement = None
    if settlement is not None and settlement.unit_code not in UNITS:
        return Rejected("bad_unit", raw)
    status = Status(int.from_bytes(data[20:22], "little"))
    return MeterData(meter_type, address, data[2], current, settlement, _clock_from_wire(data[13:20]), status, raw)


def _error_reply(meter_type: int, address: str, control: int, data: bytes, raw: bytes, order: DiOrder) -> Decoded:
    if len(data) != 3:
        return Rejected("bad_length", raw)
    return ErrorReply(meter_type, address, data[0], Status(int.from_bytes(data[1:3], "little")), raw)


_BY_CONTROL: Mapping[int, Callable[[int, str, int, bytes, bytes, DiOrder], Decoded]] = MappingProxyType({
    READ_DATA: _read_request,
    REPLY | READ_DATA: _read_reply,
    REPLY | FAULT | READ_DATA: _error_reply,
})


def _decode_frame(frame: bytes, order: DiOrder) -> Decoded:
    meter_type, address = frame[1], frame[2:9][::-1].hex().upper()
    if not _valid_address(address):
        return Rejected("bad_address", frame)
    control, data = frame[9], frame[_HEADER:-2]
    handler = _BY_CONTROL.get(control)
    if handler is None:
        return OtherFrame(meter_type, address, control, data, frame)
    return handler(meter_type, address, control, data, frame, order)


class Cjt188Decoder:
    """Turns the bytes of a CJ/T 188 line, cut anywhere, into frames and Rejected items."""

    def __init__(self, *, di_order: DiOrder = "big") -> None:
        self.di_order = _check_order(di_order)
        self._framer = SumFramer(_HEADER)

    @property
    def buffered(self) -> int:
        """Bytes held back while waiting to see how a frame or noise run ends."""
        return self._framer.buffered

    def feed(self, data: bytes) -> list[Decoded]:
        """Consume received bytes; return the frames and rejections they complete, in order."""
        return [
            _decode_frame(raw, self.di_order) if kind == "frame" else Rejected(kind, raw)
            for kind, raw in self._framer.feed(data)
        ]


def _encode(meter_type: int, address: str, control: int, data: bytes, preamble: int) -> bytes:
    if not 0 <= preamble <= MAX_PREAMBLE:
        raise LocalProtocolError(f"send 0 to {MAX_PREAMBLE} wake-up bytes, not {preamble}")
    if not 0 <= meter_type <= 0xFF:
        raise LocalProtocolError(f"a meter type is one byte, not {meter_type!r}")
    wire_address = bytes.fromhex(normalize_address(address))[::-1]
    body = bytes((START, meter_type, *wire_address, control, len(data))) + data
    return bytes((PREAMBLE,)) * preamble + body + bytes((sum(body) & 0xFF, END))


def _ser(ser: int) -> int:
    if not 0 <= ser <= 0xFF:
        raise LocalProtocolError(f"SER is one byte, not {ser!r}")
    return ser


def encode_read_request(
    meter_type: int, address: str, *, ser: int = 0, di: int = DI_METER_DATA, di_order: DiOrder = "big",
    preamble: int = MAX_PREAMBLE,
) -> bytes:
    """Encode a read-data request (01H) for `di` to the meter at `address`."""
    data = _di_to_wire(di, _check_order(di_order)) + bytes((_ser(ser),))
    return _encode(meter_type, address, READ_DATA, data, preamble)


def _quantity_to_wire(quantity: Quantity) -> bytes:
    if quantity.unit_code not in UNITS:
        raise LocalProtocolError(f"unknown unit code {quantity.unit_code:#04x}")
    return FLOW.encode(quantity.value) + bytes((quantity.unit_code,))


def encode_meter_data(
    meter_type: int, address: str, *, ser: int, current: Quantity, settlement: Quantity,
    clock: datetime | None, status: Status = Status(), di_order: DiOrder = "big", preamble: int = 0,
) -> bytes:
    """Encode a meter's 901FH answer (81H); a None clock is sent as zeros, as clockless meters do."""
    data = (
        _di_to_wire(DI_METER_DATA, _check_order(di_order)) + bytes((_ser(ser),)) + _quantity_to_wire(current)
        + _quantity_to_wire(settlement) + _clock_to_wire(clock) + status.to_wire()
    )
    return _encode(meter_type, address, REPLY | READ_DATA, data, preamble)


def encode_error_reply(meter_type: int, address: str, *, ser: int, status: Status, preamble: int = 0) -> bytes:
    """Encode a meter's refusal (C1H) carrying SER and its status."""
    data = bytes((_ser(ser),)) + status.to_wire()
    return _encode(meter_type, address, REPLY | FAULT | READ_DATA, data, preamble)
