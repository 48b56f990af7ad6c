"""Sans-I/O codec for Modbus meter register maps: which registers to read, and what their words mean.

Theory of operation: a meter's register map is data, a sequence of Register entries, each naming one
reading: the table it lives in ("holding" registers, read with FC03, or "input" registers, FC04), its
0-based address, its wire type, a Decimal scale and a unit. Modbus moves only 16-bit registers, each
sent high byte first; how a 32-bit value is spread over two of them is the meter maker's choice, so
every entry states it, as the order in which the value's big-endian bytes A B C D travel:

* ABCD: big-endian words of big-endian bytes, registers [AB, CD] (the Modbus convention)
* CDAB: low word first, [CD, AB] (common on energy meters)
* BADC: bytes swapped within each word, [BA, DC]
* DCBA: fully little-endian, [DC, BA]

A 16-bit type has only bytes A and B, so ABCD and CDAB send them as AB, BADC and DCBA as BA.

plan_reads() turns a map into the fewest read requests: the entries of one table, in address order,
share a block while the hole before the next one is at most max_gap registers and the block stays
within max_count registers (125 is the most one FC03/FC04 request may ask for). decode_block() turns
the registers a block's read returned into {name: Decimal}; encode_value() is its inverse, for
simulators and tests. Readings are Decimal end to end: integer and BCD types are exact, and a float32
becomes the shortest decimal string that reads back as the same float32 (0x42F6E979 is 123.456, not
123.45600128173828), which is then scaled. Words that cannot be a reading (a BCD nibble above 9, a NaN
or an infinity) are the meter's fault: RemoteProtocolError, naming the register. A value that does not
fit its register (out of range, not a multiple of the scale) is ours: LocalProtocolError.
"""
from __future__ import annotations

import contextlib
import math
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, DecimalException, DivisionByZero, InvalidOperation, Overflow
from types import MappingProxyType
from typing import Literal, TypeAlias

from drivers.base import LocalProtocolError, RemoteProtocolError

Function: TypeAlias = Literal["holding", "input"]
ByteOrder: TypeAlias = Literal["ABCD", "CDAB", "BADC", "DCBA"]

FUNCTION_CODES: Mapping[str, int] = MappingProxyType({"holding": 3, "input": 4})
ORDERS: tuple[str, ...] = ("ABCD", "CDAB", "BADC", "DCBA")
MAX_READ_COUNT = 125
"""The most registers one FC03/FC04 request may ask for (its reply carries at most 250 data bytes)."""

_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow])
"""Scaling is exact at this precision for every value a 32-bit register holds and any sane scale."""


@dataclass(frozen=True, slots=True)
class WireType:
    """How one register type turns its big-endian bytes into an unscaled number, and back.

    Both functions raise ValueError, with a short reason, for bytes or numbers the type cannot carry.
    """

    name: str
    words: int
    decode: Callable[[bytes], Decimal]
    encode: Callable[[Decimal], bytes]


def _whole(number: Decimal) -> int:
    if number != number.to_integral_value():
        raise ValueError(f"{number} is not a whole number of the scale")
    return int(number)


def _int_type(name: str, words: int, signed: bool) -> WireType:
    bits = 16 * words
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

    def decode(raw: bytes) -> Decimal:
        return Decimal(int.from_bytes(raw, "big", signed=signed))

    def encode(number: Decimal) -> bytes:
        value = _whole(number)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside the {name} range {low}..{high}")
        return value.to_bytes(2 * words, "big", signed=signed)

    return WireType(name, words, decode, encode)


def _bcd_type(name: str, words: int) -> WireType:
    digits = 4 * words

    def decode(raw: bytes) -> Decimal:
        nibbles = raw.hex()
        if not nibbles.isdigit():
            raise ValueError(f"0x{nibbles.upper()} has a nibble above 9, so it is not BCD")
        return Decimal(nibbles)

    def encode(number: Decimal) -> bytes:
        value = _whole(number)
        if not 0 <= value < 10**digits:
            raise ValueError(f"{value} does not fit {digits} BCD digits")
        return bytes.fromhex(f"{value:0{digits}d}")

    return WireType(name, words, decode, encode)


def _as_float32(number: float) -> float:
    return struct.unpack(">f", struct.pack(">f", number))[0]


def _shortest_float32(number: float) -> str:
    for digits in range(1, 10):  # 9 significant digits always identify a float32
        text = f"{number:.{digits}g}"
        try:
            if _as_float32(float(text)) == number:
                return text
        except OverflowError:  # a rounded-up candidate beyond the float32 range
            continue
    raise AssertionError(f"no decimal string reads back as {number!r}")


def _decode_float32(raw: bytes) -> Decimal:
    (number,) = struct.unpack(">f", raw)
    if not math.isfinite(number):
        raise ValueError(f"0x{raw.hex().upper()} is {number}, not a reading")
    return Decimal(_shortest_float32(number))


def _encode_float32(number: Decimal) -> bytes:
    value = float(number)
    if not math.isinf(value):
        with contextlib.suppress(OverflowError):  # beyond float32 even after rounding
            return struct.pack(">f", value)
    raise ValueError(f"{number} is outside the float32 range")


TYPES: Mapping[str, WireType] = MappingProxyType({
    "int16": _int_type("int16", 1, signed=True),
    "uint16": _int_type("uint16", 1, signed=False),
    "int32": _int_type("int32", 2, signed=True),
    "uint32": _int_type("uint32", 2, signed=False),
    "float32": WireType("float32", 2, _decode_float32, _encode_float32),
    "bcd16": _bcd_type("bcd16", 1),
    "bcd32": _bcd_type("bcd32", 2),
})


def _decimal(value: Decimal | int | str, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{what} must be a Decimal, int or str, not {type(value).__name__}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a number") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Register:
    """One named reading in a meter's register map; `order` is required because meters disagree."""

    name: str
    address: int
    function: Function
    type: str
    order: ByteOrder
    scale: Decimal = Decimal(1)
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a register needs a name")
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: unknown register type {self.type!r}; known: {', '.join(TYPES)}")
        if self.function not in FUNCTION_CODES:
            raise ValueError(f"{self.name}: function must be 'holding' or 'input', not {self.function!r}")
        if self.order not in ORDERS:
            raise ValueError(f"{self.name}: order must be one of {', '.join(ORDERS)}, not {self.order!r}")
        if isinstance(self.address, bool) or not isinstance(self.address, int) \
                or not 0 <= self.address <= 0x10000 - self.words:
            raise ValueError(f"{self.name}: address {self.address!r} is not a 0-based register address")
        scale = _decimal(self.scale, f"{self.name}: scale")
        if not scale.is_finite() or not scale:
            raise ValueError(f"{self.name}: scale must be a finite, non-zero number, not {scale}")
        object.__setattr__(self, "scale", scale)

    @property
    def words(self) -> int:
        """How many 16-bit registers the reading occupies."""
        return TYPES[self.type].words

    @property
    def end(self) -> int:
        """The address just past the reading."""
        return self.address + self.words

    def __str__(self) -> str:
        return f"{self.function} register {self.address} ({self.name})"


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: `count` registers of `function` from `start`, and the entries they carry."""

    function: Function
    start: int
    count: int
    entries: tuple[Register, ...]

    @property
    def function_code(self) -> int:
        """3 for holding registers, 4 for input registers."""
        return FUNCTION_CODES[self.function]


def plan_reads(entries: Iterable[Register], *, max_gap: int = 0,
               max_count: int = MAX_READ_COUNT) -> list[ReadBlock]:
    """Group a register map into the fewest reads: holding blocks, then input blocks, each by address.

    max_gap defaults to 0 because many meters answer a read that spans an unmapped register with
    exception 02; raise it for meters known to read through holes (a skipped register costs 2 bytes,
    a second request far more).
    """
    entries = tuple(entries)
    if not 1 <= max_count <= MAX_READ_COUNT:
        raise ValueError(f"max_count must be 1..{MAX_READ_COUNT}, not {max_count}")
    if max_gap < 0:
        raise ValueError(f"max_gap must be 0 or more, not {max_gap}")
    if duplicates := sorted(name for name, n in Counter(e.name for e in entries).items() if n > 1):
        raise ValueError(f"register names must be unique; repeated: {', '.join(duplicates)}")
    if too_wide := [str(e) for e in entries if e.words > max_count]:
        raise ValueError(f"max_count {max_count} is too small for {', '.join(too_wide)}")
    blocks: list[ReadBlock] = []
    for function in FUNCTION_CODES:
        group: list[Register] = []
        start = end = 0
        for entry in sorted((e for e in entries if e.function == function), key=lambda e: (e.address, e.end)):
            if group and entry.address - end <= max_gap and max(end, entry.end) - start <= max_count:
                group.append(entry)
                end = max(end, entry.end)
                continue
            if group:
                blocks.append(ReadBlock(function, start, end - start, tuple(group)))  # type: ignore[arg-type]
            group, start, end = [entry], entry.address, entry.end
        if group:
            blocks.append(ReadBlock(function, start, end - start, tuple(group)))  # type: ignore[arg-type]
    return blocks


def _layout(order: str, size: int) -> list[int]:
    """Which byte of the big-endian value travels in each wire position (16-bit types use A and B only)."""
    return [index for index in ("ABCD".index(letter) for letter in order) if index < size]


def _to_wire(raw: bytes, order: str) -> bytes:
    return bytes(raw[index] for index in _layout(order, len(raw)))


def _from_wire(wire: bytes, order: str) -> bytes:
    raw = bytearray(len(wire))
    for position, index in enumerate(_layout(order, len(wire))):
        raw[index] = wire[position]
    return bytes(raw)


def decode_value(entry: Register, registers: Sequence[int]) -> Decimal:
    """Decode one reading from exactly its own registers, scaled."""
    if len(registers) != entry.words:
        raise RemoteProtocolError(f"{entry}: expected {entry.words} registers, got {len(registers)}")
    if not all(isinstance(r, int) and 0 <= r <= 0xFFFF for r in registers):
        raise RemoteProtocolError(f"{entry}: {list(registers)} are not all 16-bit register values")
    wire = b"".join(r.to_bytes(2, "big") for r in registers)
    try:
        number = TYPES[entry.type].decode(_from_wire(wire, entry.order))
    except ValueError as exc:
        raise RemoteProtocolError(f"{entry}: {exc}") from None
    return _EXACT.multiply(number, entry.scale)


def decode_block(block: ReadBlock, registers: Sequence[int]) -> dict[str, Decimal]:
    """Decode the registers a read of `block` returned into {name: scaled reading}."""
    if len(registers) != block.count:
        raise RemoteProtocolError(f"read of {block.count} {block.function} registers from {block.start} "
                                  f"returned {len(registers)}")
    return {entry.name: decode_value(entry, registers[entry.address - block.start:entry.end - block.start])
            for entry in block.entries}


def encode_value(entry: Register, value: Decimal | int) -> list[int]:
    """The registers a meter sends for `value` (decode_value's inverse); LocalProtocolError if it cannot."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{entry}: value must be a Decimal or int, not {type(value).__name__}")
    try:
        number = _EXACT.divide(Decimal(value), entry.scale)
        if not number.is_finite():
            raise ValueError(f"{value} is not a finite number")
        raw = TYPES[entry.type].encode(number)
    except (ValueError, DecimalException) as exc:
        raise LocalProtocolError(f"{entry}: {exc}") from None
    wire = _to_wire(raw, entry.order)
    return [int.from_bytes(wire[i:i + 2], "big") for i in range(0, len(wire), 2)]
