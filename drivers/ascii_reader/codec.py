"""Sans-I/O codec for serial card readers that print each read as an ASCII frame.

Theory of operation: a reader writes one frame per card presented, and nothing guarantees that a read()
returns whole frames, so each format has a small byte-at-a-time framer that keeps only the bytes of the
frame (or noise run) it is in the middle of. Every decision depends on the bytes alone, never on where
the chunks were cut, so feeding byte by byte gives the same result as feeding everything at once.

* em4100 (RDM6300 and friends): STX, 10 hex digits (version/customer byte + 4-byte id), 2 hex digits
  of checksum (XOR of the 5 data bytes), ETX. A frame is judged when its ETX arrives; a new STX first
  abandons it ("truncated"), as does a 13th payload byte where the ETX should be. Bytes outside a frame
  are noise, reported as one Rejected per run, the run ending at the next STX or after MAX_NOISE bytes.
* decimal_line: ASCII digits ended by CR, LF or CRLF; empty lines (the LF of a CRLF) are skipped.
  A line that outgrows max_digits is rejected at once and the rest of it, up to its terminator, dropped.
* text_line: a QR or barcode scanner in serial mode: a line of printable ASCII (space to '~') ended by
  CR, LF or CRLF, at most MAX_TEXT_LINE characters, framed like decimal_line. The whole line is the frame's
  `card` (a visitor pass's text, for the access runtime to verify); min/max_digits do not apply.

Nothing here reads or writes a port: bytes in, CardFrame / Rejected out, and card ids back to bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias

from drivers.base import LocalProtocolError

EM4100 = "em4100"
DECIMAL_LINE = "decimal_line"
TEXT_LINE = "text_line"

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A
MAX_NOISE = 256
"""Longest noise run reported as one Rejected; also what bounds the buffer while no frame has started."""
MAX_TEXT_LINE = 2048
"""Longest text_line accepted: a visitor pass is about 150 characters, no legitimate scan comes near this."""

_EM4100_PAYLOAD = 12  # 10 data hex digits + 2 checksum hex digits
_HEX = frozenset(b"0123456789ABCDEFabcdef")

RejectReason: TypeAlias = Literal["bad_checksum", "bad_hex", "truncated", "noise", "bad_length", "not_digits",
                                  "not_text"]


@dataclass(frozen=True, slots=True)
class CardFrame:
    """A card read: `card` is the canonical credential id (em4100: 10 upper-case hex digits)."""

    card: str
    format: str
    raw: bytes

    @property
    def facility(self) -> int | None:
        """The em4100 version/customer byte; None for formats that carry none."""
        return int(self.card[:2], 16) if self.format == EM4100 else None

    @property
    def id_decimal(self) -> int | None:
        """The em4100 4-byte id as an integer (what is often printed on the card); None otherwise."""
        return int(self.card[2:], 16) if self.format == EM4100 else None


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes from the reader that do not make a valid frame, with a short stable reason code."""

    reason: RejectReason
    raw: bytes


Decoded: TypeAlias = CardFrame | Rejected


class _Framer(Protocol):
    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes, out: list[Decoded]) -> None: ...


def _xor(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def _decode_em4100(frame: bytes) -> Decoded:
    payload = frame[1:-1]
    if len(payload) != _EM4100_PAYLOAD:
        return Rejected("bad_length", frame)
    if not _HEX.issuperset(payload):
        return Rejected("bad_hex", frame)
    data = bytes.fromhex(payload[:10].decode("ascii"))
    if _xor(data) != int(payload[10:], 16):
        return Rejected("bad_checksum", frame)
    return CardFrame(payload[:10].decode("ascii").upper(), EM4100, frame)


class _Em4100Framer:
    def __init__(self) -> None:
        self._frame: bytearray | None = None  # from its STX, while inside a frame
        self._noise = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._noise) + (len(self._frame) if self._frame is not None else 0)

    def feed(self, data: bytes, out: list[Decoded]) -> None:
        for byte in data:
            if byte == STX:
                self._end_noise(out)
                if self._frame is not None:
                    out.append(Rejected("truncated", bytes(self._frame)))
                self._frame = bytearray((STX,))
            elif self._frame is None:
                self._noise.append(byte)
                if len(self._noise) >= MAX_NOISE:
                    self._end_noise(out)
            elif byte == ETX:
                self._frame.append(byte)
                out.append(_decode_em4100(bytes(self._frame)))
                self._frame = None
            else:
                self._frame.append(byte)
                if len(self._frame) > 1 + _EM4100_PAYLOAD:  # this byte stood where the ETX must be
                    out.append(Rejected("truncated", bytes(self._frame)))
                    self._frame = None

    def _end_noise(self, out: list[Decoded]) -> None:
        if self._noise:
            out.append(Rejected("noise", bytes(self._noise)))
            self._noise.clear()


class _DecimalLineFramer:
    def __init__(self, min_digits: int, max_digits: int) -> None:
        self._min, self._max = min_digits, max_digits
        self._line = bytearray()
        self._skipping = False  # the rest of an over-long line, already rejected

    @property
    def buffered(self) -> int:
        return len(self._line)

    def feed(self, data: bytes, out: list[Decoded]) -> None:
        for byte in data:
            if byte in (CR, LF):
                if self._line:
                    out.append(self._decode(bytes(self._line)))
                    self._line.clear()
                self._skipping = False
            elif not self._skipping:
                self._line.append(byte)
                if len(self._line) > self._max:
                    out.append(self._decode(bytes(self._line)))
                    self._line.clear()
                    self._skipping = True

    def _decode(self, line: bytes) -> Decoded:
        if not line.isdigit():  # bytes.isdigit() is ASCII-only
            return Rejected("not_digits", line)
        if not self._min <= len(line) <= self._max:
            return Rejected("bad_length", line)
        return CardFrame(line.decode("ascii"), DECIMAL_LINE, line)


class _TextLineFramer(_DecimalLineFramer):
    def __init__(self, _min_digits: int = 1, _max_digits: int = MAX_TEXT_LINE) -> None:
        super().__init__(1, MAX_TEXT_LINE)

    def _decode(self, line: bytes) -> Decoded:
        if len(line) > MAX_TEXT_LINE:
            return Rejected("bad_length", line)
        if not all(0x20 <= byte <= 0x7E for byte in line):
            return Rejected("not_text", line)
        return CardFrame(line.decode("ascii"), TEXT_LINE, line)


def encode_em4100(card_hex: str) -> bytes:
    """Encode a 10-hex-digit card id as an RDM6300/EM4100 frame (upper-case, with its XOR checksum)."""
    body = card_hex.encode("ascii", "replace").upper()
    if len(body) != 10 or not _HEX.issuperset(body):
        raise LocalProtocolError("an em4100 card id is exactly 10 hex digits (0-9, A-F)")
    checksum = b"%02X" % _xor(bytes.fromhex(body.decode("ascii")))
    return bytes((STX,)) + body + checksum + bytes((ETX,))


def encode_decimal_line(digits: str) -> bytes:
    """Encode a decimal card number as a CRLF-terminated line."""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise LocalProtocolError("a decimal_line card number is one or more ASCII digits")
    return digits.encode("ascii") + b"\r\n"


def encode_text_line(text: str) -> bytes:
    """Encode a scanned text (printable ASCII, at most MAX_TEXT_LINE characters) as a CRLF-terminated line."""
    if not 0 < len(text) <= MAX_TEXT_LINE or not all(" " <= char <= "~" for char in text):
        raise LocalProtocolError(f"a text_line is 1 to {MAX_TEXT_LINE} printable ASCII characters")
    return text.encode("ascii") + b"\r\n"


@dataclass(frozen=True, slots=True)
class ReaderFormat:
    """How one reader output format is framed (given min/max digits) and encoded."""

    name: str
    make_framer: Callable[[int, int], _Framer]
    encode: Callable[[str], bytes]


FORMATS: Mapping[str, ReaderFormat] = MappingProxyType({
    EM4100: ReaderFormat(EM4100, lambda _min, _max: _Em4100Framer(), encode_em4100),
    DECIMAL_LINE: ReaderFormat(DECIMAL_LINE, _DecimalLineFramer, encode_decimal_line),
    TEXT_LINE: ReaderFormat(TEXT_LINE, _TextLineFramer, encode_text_line),
})


def reader_format(fmt: str) -> ReaderFormat:
    """Look up a format by name; ValueError names the known ones."""
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown card reader format {fmt!r}; known: {', '.join(sorted(FORMATS))}") from None


def encode_card(fmt: str, card: str) -> bytes:
    """Encode a card id as the bytes a reader of format `fmt` would send."""
    return reader_format(fmt).encode(card)


class AsciiReaderDecoder:
    """Turns a reader's byte stream, cut anywhere, into CardFrame and Rejected items."""

    def __init__(self, fmt: str, *, min_digits: int = 4, max_digits: int = 20) -> None:
        if not 1 <= min_digits <= max_digits:
            raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}..{max_digits}")
        self.format = reader_format(fmt).name
        self._framer = FORMATS[fmt].make_framer(min_digits, max_digits)

    @property
    def buffered(self) -> int:
        """Bytes held back while waiting to see how a frame or noise run ends."""
        return self._framer.buffered

    def feed(self, data: bytes) -> list[Decoded]:
        """Consume received bytes; return the frames and rejections they complete, in order."""
        out: list[Decoded] = []
        self._framer.feed(data, out)
        return out
