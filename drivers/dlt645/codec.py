"""Sans-I/O codec for DL/T 645-2007 electricity meters on an RS-485 line.

Theory of operation: the gateway is the master; it sends a request frame and the meter addressed sends
one frame back. A read() may return any part of a frame, so SumFramer keeps the bytes it holds until
they settle what comes next, and never decides because a chunk ended: feeding byte by byte gives the
same items as feeding everything at once. CJ/T 188 shares this link layer and this framer.

Frame: 0..n wake-up bytes FEH, 68H, address A0..A5 (12 BCD digits, low byte first), 68H, control C,
length L (at most MAX_DATA, the standard's limit for read data), L data bytes, CS (sum mod 256 of the
bytes from the first 68H through the data), 16H. Every data byte travels +33H (mod 256); that offset
lives in the wire types (Bcd33, Date33, Time33, the data identifier, the error byte), not the framer.

* Control: D7 set on answers, D6 on error answers, D5 when a follow-up frame comes, D4..D0 the function
  (11H: read data). 11H asks for one data identifier (DI, 4 bytes, low byte first), 91H or B1H answers
  with the DI and its value, D1H refuses with one error byte whose bits are ERROR_FLAGS. Other
  functions come out as OtherFrame.
* Addresses are 12 characters, high byte first as printed on the meter ("000000000161" is 61 01 00 00
  00 00 on the wire). A byte may be AA, the wildcard; all-AA reaches whichever meter is on the line.
* Values: REGISTERS maps a DI to its name, unit and wire type. An answer for a DI in it is decoded
  strictly (length, digits, calendar); other DIs come out with value None and their payload bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from types import MappingProxyType
from typing import Literal, TypeAlias

from drivers.base import LocalProtocolError
from drivers.sum_frame import END, PREAMBLE, START, SumFramer

OFFSET = 0x33
MAX_PREAMBLE = 4
"""Most wake-up bytes an encoder sends (the standard asks for 1 to 4)."""
MAX_DATA = 200
_HEADER = 10  # 68, A0..A5, 68, C, L

READ_DATA = 0x11
REPLY, ERROR, FOLLOW_UP = 0x80, 0x40, 0x20
WILDCARD = "AAAAAAAAAAAA"

DI_COMBINED_ACTIVE_TOTAL = 0x00000000
DI_FORWARD_ACTIVE_TOTAL = 0x00010000
DI_VOLTAGE_A = 0x02010100
DI_CURRENT_A = 0x02020100
DI_ACTIVE_POWER_TOTAL = 0x02030000
DI_DATE = 0x04000101
DI_TIME = 0x04000102

RejectReason: TypeAlias = Literal["noise", "bad_checksum", "bad_length", "bad_address", "bad_value"]
Value: TypeAlias = Decimal | date | time


def _plus33(plain: bytes) -> bytes:
    return bytes((byte + OFFSET) & 0xFF for byte in plain)


def _minus33(wire: bytes) -> bytes:
    return bytes((byte - OFFSET) & 0xFF for byte in wire)


def _bcd_bytes(plain: bytes) -> list[int]:
    """Each byte as its two BCD digits (0..99); ValueError on a nibble above 9."""
    if any(byte >> 4 > 9 or byte & 0x0F > 9 for byte in plain):
        raise ValueError("not BCD")
    return [(byte >> 4) * 10 + (byte & 0x0F) for byte in plain]


def _to_bcd(numbers: Iterable[int]) -> bytes:
    return bytes((n // 10) << 4 | n % 10 for n in numbers)


@dataclass(frozen=True, slots=True)
class Bcd33:
    """A number as packed BCD, low byte first, each byte +33H; when `signed` the top bit is the sign."""

    size: int
    decimals: int
    signed: bool = False

    @property
    def capacity(self) -> Decimal:
        """One past the largest magnitude the field holds: where a counter in it rolls over."""
        top = 8 if self.signed else 10  # a sign bit leaves 0..7 for the top digit
        return Decimal(top * 10 ** (2 * self.size - 1)).scaleb(-self.decimals)

    def decode(self, wire: bytes) -> Decimal:
        if len(wire) != self.size:
            raise ValueError(f"expected {self.size} bytes, got {len(wire)}")
        plain = bytearray(reversed(_minus33(wire)))
        negative = self.signed and bool(plain[0] & 0x80)
        if self.signed:
            plain[0] &= 0x7F
        magnitude = int("".join(f"{pair:02d}" for pair in _bcd_bytes(plain)))
        return Decimal(-magnitude if negative else magnitude).scaleb(-self.decimals)

    def encode(self, value: Value) -> bytes:
        if not isinstance(value, Decimal | int) or not Decimal(value).is_finite():
            raise LocalProtocolError(f"a {self.size}-byte BCD field carries a finite number, not {value!r}")
        scaled = Decimal(value).scaleb(self.decimals)
        if scaled != scaled.to_integral_value() or (scaled < 0 and not self.signed) or abs(value) >= self.capacity:
            raise LocalProtocolError(f"{value} does not fit {self.size} BCD bytes with {self.decimals} decimals")
        digits = f"{abs(int(scaled)):0{2 * self.size}d}"
        plain = bytearray(_to_bcd(int(digits[i:i + 2]) for i in range(0, len(digits), 2)))
        if scaled < 0:
            plain[0] |= 0x80
        return _plus33(bytes(reversed(plain)))


@dataclass(frozen=True, slots=True)
class Date33:
    """YYMMDDWW as BCD (WW 0 = Sunday), low byte first, each byte +33H; years 2000-2099."""

    size: int = 4

    def decode(self, wire: bytes) -> date:
        if len(wire) != self.size:
            raise ValueError("a date is 4 bytes")
        week, day, month, year = _bcd_bytes(_minus33(wire))
        if week > 6:
            raise ValueError("weekday out of range")
        return date(2000 + year, month, day)

    def encode(self, value: Value) -> bytes:
        if not isinstance(value, date) or not 2000 <= value.year <= 2099:
            raise LocalProtocolError(f"a meter date is a date in 2000-2099, not {value!r}")
        return _plus33(_to_bcd((value.isoweekday() % 7, value.day, value.month, value.year - 2000)))


@dataclass(frozen=True, slots=True)
class Time33:
    """hhmmss as BCD, low byte (seconds) first, each byte +33H."""

    size: int = 3

    def decode(self, wire: bytes) -> time:
        if len(wire) != self.size:
            raise ValueError("a time is 3 bytes")
        second, minute, hour = _bcd_bytes(_minus33(wire))
        return time(hour, minute, second)

    def encode(self, value: Value) -> bytes:
        if not isinstance(value, time):
            raise LocalProtocolError(f"a meter time is a datetime.time, not {value!r}")
        return _plus33(_to_bcd((value.second, value.minute, value.hour)))


WireType: TypeAlias = Bcd33 | Date33 | Time33
"""How a value travels in a data field: a fixed `size`, and decode/encode on the bytes as sent."""


@dataclass(frozen=True, slots=True)
class Register:
    """What one data identifier holds: a name, a unit and its wire type."""

    di: int
    name: str
    unit: str
    wire: WireType


REGISTERS: Mapping[int, Register] = MappingProxyType({reg.di: reg for reg in (
    Register(DI_COMBINED_ACTIVE_TOTAL, "combined_active_energy", "kWh", Bcd33(4, 2, signed=True)),
    Register(DI_FORWARD_ACTIVE_TOTAL, "forward_active_energy", "kWh", Bcd33(4, 2)),
    Register(DI_VOLTAGE_A, "voltage_a", "V", Bcd33(2, 1)),
    Register(DI_CURRENT_A, "current_a", "A", Bcd33(3, 3, signed=True)),
    Register(DI_ACTIVE_POWER_TOTAL, "active_power", "kW", Bcd33(3, 4, signed=True)),
    Register(DI_DATE, "date", "", Date33()),
    Register(DI_TIME, "time", "", Time33()),
)})

ERROR_FLAGS: Mapping[int, str] = MappingProxyType({
    0x01: "other",
    0x02: "no_data",
    0x04: "unauthorized",  # password wrong or not authorised
    0x08: "rate_unchangeable",
    0x10: "year_zones_exceeded",
    0x20: "day_slots_exceeded",
    0x40: "tariffs_exceeded",
})


def _di_to_wire(di: int) -> bytes:
    if not 0 <= di <= 0xFFFF_FFFF:
        raise LocalProtocolError(f"a data identifier is 4 bytes, not {di:#x}")
    return _plus33(di.to_bytes(4, "little"))


def _di_from_wire(wire: bytes) -> int:
    return int.from_bytes(_minus33(wire), "little")


def _valid_address(text: str) -> bool:
    pairs = [text[i:i + 2] for i in range(0, 12, 2)]
    return len(text) == 12 and text.isascii() and all(p == "AA" or p.isdigit() for p in pairs)


def normalize_address(address: str) -> str:
    """The address upper-cased (12 digits, a byte may be AA); LocalProtocolError if it cannot be sent."""
    text = address.upper()
    if not _valid_address(text):
        raise LocalProtocolError(f"a DL/T 645 address is 12 digits, a byte may be AA; got {address!r}")
    return text


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """A master asking the meter at `address` for data identifier `di`."""

    address: str
    di: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class ReadReply:
    """A meter's answer; `value` per REGISTERS (None for a DI not in it), `payload` without the +33H."""

    address: str
    di: int
    value: Value | None
    payload: bytes
    follow_up: bool
    raw: bytes


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A meter refusing a read; `code` is the error byte, `errors` names its bits."""

    address: str
    code: int
    raw: bytes

    @property
    def errors(self) -> tuple[str, ...]:
        """Names of the bits set in `code` (ERROR_FLAGS order); bit 7 is reserved and unnamed."""
        return tuple(name for bit, name in ERROR_FLAGS.items() if self.code & bit)


@dataclass(frozen=True, slots=True)
class OtherFrame:
    """A well-formed frame this codec does not interpret; `payload` is the data without the +33H."""

    address: str
    control: int
    payload: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes from the line that do not make a valid frame, with a short stable reason code."""

    reason: RejectReason
    raw: bytes


Frame: TypeAlias = ReadRequest | ReadReply | ErrorReply | OtherFrame
Decoded: TypeAlias = Frame | Rejected


def _read_request(address: str, control: int, data: bytes, raw: bytes) -> Decoded:
    if len(data) != 4:  # block reads add count/time parameters; not modelled here
        return OtherFrame(address, control, _minus33(data), raw)
    return ReadRequest(address, _di_from_wire(data), raw)


def _read_reply(address: str, control: int, data: bytes, raw: bytes) -> Decoded:
    if len(data) < 4:
        return Rejected("bad_length", raw)
    di, wire = _di_from_wire(data[:4]), data[4:]
    value: Value | None = None
    if (register := REGISTERS.get(di)) is not None:
        try:
            value = register.wire.decode(wire)
        except ValueError:
            return Rejected("bad_value", raw)
    return ReadReply(address, di, value, _minus33(wire), bool(control & FOLLOW_UP), raw)


def _error_reply(address: str, control: int, data: bytes, raw: bytes) -> Decoded:
    if len(data) != 1:
        return Rejected("bad_length", raw)
    return ErrorReply(address, _minus33(data)[0], raw)


_BY_CONTROL: Mapping[int, Callable[[str, int, bytes, bytes], Decoded]] = MappingProxyType({
    READ_DATA: _read_request,
    REPLY | READ_DATA: _read_reply,
    REPLY | FOLLOW_UP | READ_DATA: _read_reply,
    REPLY | ERROR | READ_DATA: _error_reply,
})


def _decode_frame(frame: bytes) -> Decoded:
    address = frame[1:7][::-1].hex().upper()
    if not _valid_address(address):
        return Rejected("bad_address", frame)
    control, data = frame[8], frame[_HEADER:-2]
    handler = _BY_CONTROL.get(control)
    if handler is None:
        return OtherFrame(address, control, _minus33(data), frame)
    return handler(address, control, data, frame)


class Dlt645Decoder:
    """Turns the bytes of a DL/T 645 line, cut anywhere, into frames and Rejected items."""

    def __init__(self) -> None:
        self._framer = SumFramer(_HEADER, max_data=MAX_DATA, sync=(7,))

    @property
    def buffered(self) -> int:
        """Bytes held back while waiting to see how a frame or noise run ends."""
        return self._framer.buffered

    def feed(self, data: bytes) -> list[Decoded]:
        """Consume received bytes; return the frames and rejections they complete, in order."""
        events = self._framer.feed(data)
        return [_decode_frame(raw) if kind == "frame" else Rejected(kind, raw) for kind, raw in events]


def _encode(address: str, control: int, wire_data: bytes, preamble: int) -> bytes:
    if not 0 <= preamble <= MAX_PREAMBLE:
        raise LocalProtocolError(f"send 0 to {MAX_PREAMBLE} wake-up bytes, not {preamble}")
    body = bytes((START, *bytes.fromhex(normalize_address(address))[::-1], START, control, len(wire_data)))
    body += wire_data
    return bytes((PREAMBLE,)) * preamble + body + bytes((sum(body) & 0xFF, END))


def encode_read_request(address: str, di: int, *, preamble: int = MAX_PREAMBLE) -> bytes:
    """Encode a read-data request (11H) for `di` to the meter at `address` (WILDCARD for any)."""
    return _encode(address, READ_DATA, _di_to_wire(di), preamble)


def encode_read_reply(address: str, di: int, value: Value, *, follow_up: bool = False, preamble: int = 0) -> bytes:
    """Encode a meter's answer (91H, or B1H with `follow_up`) carrying `value` for a DI in REGISTERS."""
    register = REGISTERS.get(di)
    if register is None:
        raise LocalProtocolError(f"no wire type known for data identifier {di:08X}")
    control = REPLY | (FOLLOW_UP if follow_up else 0) | READ_DATA
    return _encode(address, control, _di_to_wire(di) + register.wire.encode(value), preamble)


def encode_error_reply(address: str, errors: Iterable[str], *, preamble: int = 0) -> bytes:
    """Encode a meter's refusal (D1H) with the named ERROR_FLAGS bits set."""
    bits, names = {name: bit for bit, name in ERROR_FLAGS.items()}, set(errors)
    if unknown := sorted(names - bits.keys()):
        raise LocalProtocolError(f"unknown error flags {unknown}; known: {', '.join(bits)}")
    code = sum(bits[name] for name in names)
    return _encode(address, REPLY | ERROR | READ_DATA, _plus33(bytes((code,))), preamble)
