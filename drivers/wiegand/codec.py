"""Sans-I/O codec for Wiegand 26 and 34 readers behind a Wiegand-to-serial converter.

Theory of operation: the reader pulses a frame of bits to a converter, which writes each read to its
serial port in one of the output formats in FORMATS. A frame's bits are held as one integer whose most
significant bit is the first bit on the wire. Both lengths share one layout (LAYOUTS): an even parity
bit over the first half of the data bits, the facility (site) code, a 16-bit card number, and an odd
parity bit over the second half of the data bits.

* Wiegand 26 (HID H10301): even parity over bits 1..12, facility in bits 1..8, number in bits 9..24,
  odd parity over bits 13..24.
* Wiegand 34: even parity over bits 1..16, facility in bits 1..16, number in bits 17..32, odd parity
  over bits 17..32.

The card id (`card`): the data bits, facility * 65536 + number, as 10 zero-padded decimal digits; facility
18, number 12345 is "0001191993". It is the 10-digit number many prox cards and fobs have printed on them,
and what many readers and converters print in decimal mode, so an ascii_reader in decimal_line mode often
reports the same id for the same fob. Central matches staff cards on `card` alone, so the facility must be
in it: the bare number would make card 12345 of site 18 and card 12345 of site 19 one person. A tag such
as "W26:18:12345" would match no other reader family. A credential read as 26 or 34 bits gets the same
id. Events carry `facility` and `number` too, for people and for caches keyed on them.

Framing: each format has a byte-at-a-time framer that keeps only the frame (or noise run) it is in, so
feeding byte by byte gives the same result as feeding everything at once, and the buffer stays bounded.
Line formats judge each CR- or LF-terminated line; a line longer than MAX_LINE is rejected once and the
rest of it dropped. The binary format's length byte says where a frame ends; a frame whose ETX or
checksum is wrong is rejected up to the next STX inside it, and decoding resumes at that STX, so a read
cut short never costs the read after it. Bytes outside binary frames are noise, one Rejected per run.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias

from drivers.base import LocalProtocolError

HEX_LINE = "hex_line"
"""An ASCII line holding the whole frame, parity bits included, as hex right-aligned in whole digits (7 for
26 bits, 9 for 34), ended by CR LF. Upper or lower case. The length is told by the number of digits."""

DECIMAL_LINE_FC = "decimal_line_fc"
"""An ASCII line, ended by CR LF, of either "facility,number" in decimal ("18,12345") or the data bits as
one decimal number ("0001191993"). The converter has checked and dropped the parity bits, and the line
does not say whether the frame had 26 or 34 bits."""

BINARY_STX = "binary_stx"
"""A binary frame: STX, the bit count (one byte), the bits packed MSB-first from the top bit of the first
byte into ceil(count/8) bytes with zero padding in the low bits of the last, the XOR of the count byte and
the bit bytes, ETX. Facility 18, number 12345: 02 1A 09 18 1C C0 D7 03."""

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A
NUMBER_BITS = 16
"""Both layouts end their data in a 16-bit card number."""
MAX_NOISE = 256
"""Longest noise run reported as one Rejected; also what bounds the buffer while no frame has started."""
MAX_LINE = 32
"""Longest line a line format holds; a longer one is rejected (and the rest of it dropped)."""
MAX_BITS = 64
"""Longest frame the binary framer collects; longer counts are taken as a lost frame boundary."""

_HEX = frozenset(b"0123456789ABCDEFabcdef")
_DECIMAL = frozenset(b"0123456789,")
_FACILITY_NUMBER = re.compile(rb"([0-9]{1,10}),([0-9]{1,10})")

RejectReason: TypeAlias = Literal[
    "bad_parity", "bad_length", "bad_checksum", "bad_padding", "out_of_range", "truncated", "noise"]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the fields of a `length`-bit frame sit: parity, facility_bits of facility, 16 of number, parity."""

    length: int
    facility_bits: int

    @property
    def data_bits(self) -> int:
        """The bits between the two parity bits."""
        return self.length - 2


LAYOUTS: Mapping[int, Layout] = MappingProxyType({26: Layout(26, 8), 34: Layout(34, 16)})


@dataclass(frozen=True, slots=True)
class WiegandCard:
    """A parity-checked credential: the facility code and card number of a `length`-bit frame."""

    length: int
    facility: int
    number: int

    @property
    def card(self) -> str:
        """The canonical card id (see the module docstring)."""
        return card_id(self.facility, self.number)


@dataclass(frozen=True, slots=True)
class WiegandFrame:
    """A card read off the converter's line; `card` is the canonical id, `bits` None when the format hides it."""

    card: str
    format: str
    raw: bytes
    facility: int
    number: int
    bits: int | None

    @property
    def id_decimal(self) -> int:
        """The data bits as an integer, like the ascii_reader's em4100 frames give their 4-byte id."""
        return int(self.card)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes (or bits) from the converter that do not make a valid read, with a short stable reason code."""

    reason: RejectReason
    raw: bytes = b""


Decoded: TypeAlias = WiegandFrame | Rejected


def card_id(facility: int, number: int) -> str:
    """The canonical card id of a facility code and card number."""
    return f"{facility << NUMBER_BITS | number:010d}"


def _parity(data: int, layout: Layout) -> tuple[int, int]:
    """(even parity bit over the first half of the data bits, odd parity bit over the second half)."""
    half = layout.data_bits // 2
    first, second = data >> half, data & ((1 << half) - 1)
    return first.bit_count() & 1, (second.bit_count() & 1) ^ 1


def encode_bits(facility: int, number: int, length: int = 26) -> int:
    """The `length`-bit frame carrying facility and number, parity set; LocalProtocolError if they do not fit."""
    layout = LAYOUTS.get(length)
    if layout is None:
        raise LocalProtocolError(f"a Wiegand frame here is 26 or 34 bits, not {length}")
    if not 0 <= facility < 1 << layout.facility_bits:
        raise LocalProtocolError(f"Wiegand {length} facility is 0..{(1 << layout.facility_bits) - 1}, not {facility}")
    if not 0 <= number < 1 << NUMBER_BITS:
        raise LocalProtocolError(f"a Wiegand card number is 0..{(1 << NUMBER_BITS) - 1}, not {number}")
    data = facility << NUMBER_BITS | number
    even, odd = _parity(data, layout)
    return even << (length - 1) | data << 1 | odd


def decode_bits(bits: int, length: int) -> WiegandCard | Rejected:
    """Check a frame's parity and split it into facility and number, or say why it is no valid frame."""
    layout = LAYOUTS.get(length)
    if layout is None or not 0 <= bits < 1 << length:
        return Rejected("bad_length")
    data = bits >> 1 & ((1 << layout.data_bits) - 1)
    if (bits >> (length - 1), bits & 1) != _parity(data, layout):
        return Rejected("bad_parity")
    return WiegandCard(length, data >> NUMBER_BITS, data & ((1 << NUMBER_BITS) - 1))


def _xor(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def _checked_frame(bits: int, length: int, fmt: str, raw: bytes) -> Decoded:
    card = decode_bits(bits, length)
    if isinstance(card, Rejected):
        return Rejected(card.reason, raw)
    return WiegandFrame(card.card, fmt, raw, card.facility, card.number, length)


def _hex_digits(length: int) -> int:
    return -(-length // 4)


_LENGTH_BY_HEX_DIGITS = {_hex_digits(length): length for length in LAYOUTS}


def _judge_hex_line(lengths: frozenset[int], line: bytes) -> Decoded:
    if not _HEX.issuperset(line):
        return Rejected("noise", line)
    length = _LENGTH_BY_HEX_DIGITS.get(len(line))
    if length not in lengths:
        return Rejected("bad_length", line)
    return _checked_frame(int(line, 16), length, HEX_LINE, line)


def _judge_decimal_line(lengths: frozenset[int], line: bytes) -> Decoded:
    match = _FACILITY_NUMBER.fullmatch(line)
    if match is not None:
        facility, number = int(match[1]), int(match[2])
    elif line.isdigit():  # bytes.isdigit() is ASCII-only
        facility, number = divmod(int(line), 1 << NUMBER_BITS)
    else:
        return Rejected("noise", line)
    widest = max(LAYOUTS[length].facility_bits for length in lengths)
    if facility >= 1 << widest or number >= 1 << NUMBER_BITS:
        return Rejected("out_of_range", line)
    bits = next(iter(lengths)) if len(lengths) == 1 else None
    return WiegandFrame(card_id(facility, number), DECIMAL_LINE_FC, line, facility, number, bits)


class _Framer(Protocol):
    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes, out: list[Decoded]) -> None: ...


class _LineFramer:
    def __init__(self, judge: Callable[[bytes], Decoded], alphabet: frozenset[int]) -> None:
        self._judge, self._alphabet = judge, alphabet
        self._line = bytearray()
        self._skipping = False  # the rest of an over-long line, already rejected

    @property
    def buffered(self) -> int:
        return len(self._line)

    def feed(self, data: bytes, out: list[Decoded]) -> None:
        for byte in data:
            if byte in (CR, LF):
                if self._line:  # an empty line is the LF of a CR LF
                    out.append(self._judge(bytes(self._line)))
                    self._line.clear()
                self._skipping = False
            elif not self._skipping:
                self._line.append(byte)
                if len(self._line) > MAX_LINE:
                    line = bytes(self._line)
                    out.append(Rejected("bad_length" if self._alphabet.issuperset(line) else "noise", line))
                    self._line.clear()
                    self._skipping = True


def _binary_size(count: int) -> int:
    return 4 + -(-count // 8)  # STX, count, the bit bytes, checksum, ETX


class _BinaryFramer:
    def __init__(self, lengths: frozenset[int]) -> None:
        self._lengths = lengths
        self._frame: bytearray | None = None  # from its STX, while inside a frame
        self._noise = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._noise) + (len(self._frame) if self._frame is not None else 0)

    def feed(self, data: bytes, out: list[Decoded]) -> None:
        for byte in data:
            if self._frame is None:
                if byte == STX:
                    self._end_noise(out)
                    self._frame = bytearray((STX,))
                else:
                    self._noise.append(byte)
                    if len(self._noise) >= MAX_NOISE:
                        self._end_noise(out)
                continue
            self._frame.append(byte)
            if len(self._frame) == 2 and not 1 <= byte <= MAX_BITS:
                self._resync("bad_length", out)
            elif len(self._frame) > 2 and len(self._frame) == _binary_size(self._frame[1]):
                self._judge(out)

    def _judge(self, out: list[Decoded]) -> None:
        assert self._frame is not None
        frame = bytes(self._frame)
        if frame[-1] != ETX:
            self._resync("truncated", out)
        elif _xor(frame[1:-2]) != frame[-2]:
            self._resync("bad_checksum", out)
        else:
            self._frame = None
            out.append(self._decode(frame))

    def _decode(self, frame: bytes) -> Decoded:
        count, body = frame[1], frame[2:-2]
        value = int.from_bytes(body, "big")
        padding = len(body) * 8 - count
        if count not in self._lengths:
            return Rejected("bad_length", frame)
        if value & ((1 << padding) - 1):
            return Rejected("bad_padding", frame)
        return _checked_frame(value >> padding, count, BINARY_STX, frame)

    def _resync(self, reason: RejectReason, out: list[Decoded]) -> None:
        assert self._frame is not None
        frame, self._frame = bytes(self._frame), None
        restart = frame.find(STX, 1)
        if restart < 0:
            restart = len(frame)
        out.append(Rejected(reason, frame[:restart]))
        self.feed(frame[restart:], out)  # at most MAX_BITS // 8 + 3 bytes, so the recursion stays shallow

    def _end_noise(self, out: list[Decoded]) -> None:
        if self._noise:
            out.append(Rejected("noise", bytes(self._noise)))
            self._noise.clear()


def _check_raw(bits: int, length: int) -> None:
    if not 1 <= length <= MAX_BITS or not 0 <= bits < 1 << length:
        raise LocalProtocolError(f"need 1 <= length <= {MAX_BITS} and 0 <= bits < 2**length, got {bits}, {length}")


def encode_hex_line(bits: int, length: int) -> bytes:
    """A hex_line line for a raw frame of `length` bits (parity as given, right or wrong)."""
    _check_raw(bits, length)
    return b"%0*X\r\n" % (_hex_digits(length), bits)


def encode_decimal_line_fc(bits: int, length: int) -> bytes:
    """A decimal_line_fc "facility,number" line for a raw frame; the parity bits are dropped, as converters do."""
    _check_raw(bits, length)
    if length < 2 + NUMBER_BITS:
        raise LocalProtocolError(f"a {length}-bit frame holds no 16-bit card number")
    data = bits >> 1 & ((1 << (length - 2)) - 1)
    return b"%d,%d\r\n" % divmod(data, 1 << NUMBER_BITS)


def encode_decimal_data(facility: int, number: int) -> bytes:
    """The other decimal_line_fc form: the data bits as one 10-digit decimal number."""
    encode_bits(facility, number, 34)  # range check: the wider layout
    return card_id(facility, number).encode("ascii") + b"\r\n"


def encode_binary_stx(bits: int, length: int) -> bytes:
    """A binary_stx frame for a raw frame of `length` bits (parity as given, right or wrong)."""
    _check_raw(bits, length)
    size = _binary_size(length) - 4
    head = bytes((length,)) + (bits << (size * 8 - length)).to_bytes(size, "big")
    return bytes((STX,)) + head + bytes((_xor(head), ETX))


@dataclass(frozen=True, slots=True)
class ConverterFormat:
    """One converter output format: its framer (given the accepted lengths), its encoder, whether it sends parity."""

    name: str
    make_framer: Callable[[frozenset[int]], _Framer]
    encode: Callable[[int, int], bytes]
    carries_parity: bool


FORMATS: Mapping[str, ConverterFormat] = MappingProxyType({
    HEX_LINE: ConverterFormat(HEX_LINE, lambda lengths: _LineFramer(partial(_judge_hex_line, lengths), _HEX),
                              encode_hex_line, carries_parity=True),
    DECIMAL_LINE_FC: ConverterFormat(
        DECIMAL_LINE_FC, lambda lengths: _LineFramer(partial(_judge_decimal_line, lengths), _DECIMAL),
        encode_decimal_line_fc, carries_parity=False),
    BINARY_STX: ConverterFormat(BINARY_STX, _BinaryFramer, encode_binary_stx, carries_parity=True),
})


def converter_format(fmt: str) -> ConverterFormat:
    """Look up a converter format by name; ValueError names the known ones."""
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown Wiegand converter format {fmt!r}; known: {', '.join(sorted(FORMATS))}") from None


def encode_frame(fmt: str, facility: int, number: int, length: int = 26) -> bytes:
    """The bytes a converter in format `fmt` sends for one read of a valid `length`-bit card."""
    return converter_format(fmt).encode(encode_bits(facility, number, length), length)


class WiegandDecoder:
    """Turns a converter's byte stream, cut anywhere, into WiegandFrame and Rejected items."""

    def __init__(self, fmt: str, bits: int | None = None) -> None:
        if bits is not None and bits not in LAYOUTS:
            raise ValueError(f"bits is one of {', '.join(map(str, LAYOUTS))} or None (any), got {bits!r}")
        self.format = converter_format(fmt).name
        self.bits = bits
        self._framer = FORMATS[fmt].make_framer(frozenset(LAYOUTS) if bits is None else frozenset((bits,)))

    @property
    def buffered(self) -> int:
        """Bytes held back while waiting to see how a frame, line or noise run ends."""
        return self._framer.buffered

    def feed(self, data: bytes) -> list[Decoded]:
        """Consume received bytes; return the reads and rejections they complete, in order."""
        out: list[Decoded] = []
        self._framer.feed(data, out)
        return out
