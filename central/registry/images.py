"""Holder photos as bytes: is this a whole JPEG or PNG of the type it claims, and how big is it? No I/O.

Pillow is not a declared dependency, so the check is structural and needs nothing outside the standard library:
a PNG's chunks must all be there with good CRCs, starting with a valid IHDR and ending with IEND, and its image
data must inflate to exactly the scanlines the header promises (each with a valid filter byte); a JPEG must run
from SOI through a frame header (SOF) with its size and a scan (SOS) to EOI, every marker segment whole. That
catches truncation, renamed files, text and corruption of the compressed stream's framing; it cannot tell a
JPEG's Huffman-coded pixels from noise, which a browser draws as grey blocks instead of failing.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAX_BYTES = 512 * 1024
"""A photo is at most 512 KiB: enough for a sharp face at a few hundred pixels a side."""
MAX_SIDE = 4096
"""Pixels a side; more is a camera original, which the console does not need (and a PNG bomb's way in)."""
TYPES = ("image/jpeg", "image/png")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8\xff"
_BITS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
"""PNG colour type -> its allowed bit depths."""
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""Interlace passes: (x start, y start, x step, y step)."""
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOF_SHOWN = frozenset({0xC0, 0xC1, 0xC2})
"""Baseline, extended and progressive Huffman-coded frames: what browsers draw (not lossless or arithmetic)."""
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
"""JPEG markers without a length: TEM and the restart markers RST0-7."""


class PhotoError(Exception):
    """The bytes cannot be stored as a photo; `message` says why, for the person uploading."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedType(PhotoError):
    """The declared content type is not one a photo may have (HTTP 415)."""


class TooLarge(PhotoError):
    """Over MAX_BYTES (HTTP 413)."""


class NotAnImage(PhotoError):
    """The bytes are not a whole image of the declared type (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Image:
    """Bytes checked to be a whole image of `content_type`."""

    content_type: str
    width: int
    height: int
    data: bytes


def sniff(data: bytes) -> str | None:
    """The type the bytes' magic number says, or None."""
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(JPEG_START):
        return "image/jpeg"
    return None


def declared_type(content_type: str | None) -> str:
    """The media type of a Content-Type header if a photo may have it, else UnsupportedType."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared not in TYPES:
        raise UnsupportedType(f"Content-Type: a photo is image/jpeg or image/png, got {declared or 'none'!r}")
    return declared


def check_size(size: int, more: bool = False) -> None:
    """TooLarge when `size` bytes is over the limit (`more`: at least that many, the rest unread)."""
    if size > MAX_BYTES:
        this = f"over {MAX_BYTES}" if more else str(size)
        raise TooLarge(f"a photo is at most {MAX_BYTES} bytes (512 KiB), this one is {this}; "
                       "make it smaller (a few hundred pixels a side is plenty)")


def check_photo(data: bytes, content_type: str | None) -> Image:
    """The photo, or the reason it cannot be one: UnsupportedType, TooLarge or NotAnImage."""
    declared = declared_type(content_type)
    check_size(len(data))
    if not data:
        raise NotAnImage("the body is empty: send the image's bytes")
    found = sniff(data)
    if found != declared:
        what = f"a {found.removeprefix('image/').upper()} image" if found else "not a JPEG or PNG image"
        raise NotAnImage(f"the body is {what} but Content-Type says {declared}")
    width, height = png_size(data) if declared == "image/png" else jpeg_size(data)
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise NotAnImage(f"the image is {width}x{height} pixels; a photo is 1 to {MAX_SIDE} pixels a side")
    return Image(declared, width, height, data)


# --- PNG -------------------------------------------------------------------------------------------------

def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk up to and including IEND, CRCs checked."""
    chunks, at = [], len(PNG_SIGNATURE)
    while True:
        if at + 8 > len(data):
            raise NotAnImage("PNG: cut short (no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, at)
        end = at + 8 + length + 4
        if length > 2**31 - 1 or end > len(data):
            raise NotAnImage(f"PNG: cut short inside the {kind!r} chunk")
        body = data[at + 8:at + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack_from(">I", data, end - 4)[0]:
            raise NotAnImage(f"PNG: the {kind.decode('latin-1')!r} chunk is corrupt (CRC mismatch)")
        chunks.append((kind, body))
        at = end
        if kind == b"IEND":
            if at != len(data):
                raise NotAnImage(f"PNG: {len(data) - at} bytes after the IEND chunk")
            return chunks


def _scanlines(width: int, height: int, interlaced: bool, bits_per_pixel: int) -> list[tuple[int, int]]:
    """(rows, bytes per row including the filter byte) of each (sub)image, in stream order."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    out = []
    for x0, y0, dx, dy in passes:
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w > 0 and h > 0:
            out.append((h, 1 + (w * bits_per_pixel + 7) // 8))
    return out


def _check_png_pixels(compressed: bytes, layout: list[tuple[int, int]]) -> None:
    """Inflate the image data a piece at a time (never all of it at once) and check every filter byte."""
    starts: list[int] = []
    expected = 0
    for rows, size in layout:
        starts += range(expected, expected + rows * size, size)
        expected += rows * size
    filters = iter(starts)
    inflater = zlib.decompressobj()
    pending, produced, next_filter = compressed, 0, next(filters, None)
    try:
        while True:
            piece = inflater.decompress(pending, 1 << 16)
            pending = inflater.unconsumed_tail
            while next_filter is not None and next_filter < produced + len(piece):
                if piece[next_filter - produced] > 4:
                    raise NotAnImage(f"PNG: the image data is corrupt (filter type {piece[next_filter - produced]} "
                                     f"at byte {next_filter} of the inflated data)")
                next_filter = next(filters, None)
            produced += len(piece)
            if produced > expected:
                raise NotAnImage("PNG: the image data is longer than the header's size allows")
            if not piece and not pending:
                break
    except zlib.error as exc:
        raise NotAnImage(f"PNG: the image data does not inflate ({exc})") from None
    if not inflater.eof or produced != expected:
        raise NotAnImage(f"PNG: the image data holds {produced} of the {expected} bytes the header's size needs")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a whole, valid PNG, or NotAnImage."""
    chunks = _png_chunks(data)
    kind, header = chunks[0]
    if kind != b"IHDR" or len(header) != 13:
        raise NotAnImage("PNG: the first chunk is not a 13-byte IHDR")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", header)
    if depth not in _BITS.get(colour, ()) or compression or filtering or interlace > 1:
        raise NotAnImage(f"PNG: the header is invalid (bit depth {depth}, colour type {colour})")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        return width, height  # check_photo says what is wrong with the size
    kinds = [k for k, _ in chunks]
    first = kinds.index(b"IDAT") if b"IDAT" in kinds else -1
    if first < 0:
        raise NotAnImage("PNG: no image data (IDAT chunk)")
    if colour == 3 and b"PLTE" not in kinds[:first]:
        raise NotAnImage("PNG: a palette image without its palette (PLTE chunk)")
    run = first
    while run < len(kinds) and kinds[run] == b"IDAT":
        run += 1
    if b"IDAT" in kinds[run:]:
        raise NotAnImage("PNG: the IDAT chunks are not consecutive")
    compressed = b"".join(body for _, body in chunks[first:run])
    _check_png_pixels(compressed, _scanlines(width, height, interlace == 1, depth * _CHANNELS[colour]))
    return width, height


# --- JPEG ------------------------------------------------------------------------------------------------

def _skip_scan(data: bytes, at: int) -> int:
    """The offset of the marker that ends the entropy-coded data starting at `at`."""
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            raise NotAnImage("JPEG: cut short inside the image data (no end-of-image marker)")
        following = data[at + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            at += 1 if following == 0xFF else 2  # a stuffed byte, a restart marker, or fill before a marker
            continue
        return at


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG whose segments run whole from SOI through a frame and a scan to EOI."""
    at, size, scans, tables = 2, None, 0, False
    while True:
        if at >= len(data) or data[at] != 0xFF:
            raise NotAnImage(f"JPEG: cut short or corrupt at byte {at} (expected a marker)")
        while at < len(data) and data[at] == 0xFF:
            at += 1  # markers may be preceded by any number of fill bytes
        if at >= len(data):
            raise NotAnImage("JPEG: cut short (no end-of-image marker)")
        marker = data[at]
        at += 1
        if marker == 0xD9:
            break
        if marker in _STANDALONE:
            continue
        if marker in (0x00, 0xD8):
            raise NotAnImage(f"JPEG: marker 0xFF{marker:02X} where a segment should start, at byte {at - 2}")
        if at + 2 > len(data):
            raise NotAnImage("JPEG: cut short in a segment's length")
        length = struct.unpack_from(">H", data, at)[0]
        if length < 2 or at + length > len(data):
            raise NotAnImage(f"JPEG: the segment 0xFF{marker:02X} at byte {at - 2} is cut short or has a bad length")
        body = data[at + 2:at + length]
        at += length
        if marker in _SOF:
            if marker not in _SOF_SHOWN:
                raise NotAnImage(f"JPEG: a lossless, arithmetic-coded or hierarchical JPEG (SOF 0xFF{marker:02X}), "
                                 "which browsers cannot show; save it as a baseline or progressive JPEG")
            if size is not None:
                raise NotAnImage("JPEG: more than one frame header (SOF)")
            if len(body) < 6:
                raise NotAnImage("JPEG: the frame header (SOF) is too short")
            _precision, height, width, components = struct.unpack_from(">BHHB", body)
            if not 1 <= components <= 4 or len(body) != 6 + 3 * components:
                raise NotAnImage(f"JPEG: the frame header (SOF) is invalid ({components} components)")
            size = (width, height)
        elif marker == 0xDB:
            tables = True
        elif marker == 0xDA:
            if size is None:
                raise NotAnImage("JPEG: a scan (SOS) before the frame header (SOF)")
            if not body or not 1 <= body[0] <= 4 or len(body) != 4 + 2 * body[0]:
                raise NotAnImage("JPEG: the scan header (SOS) is invalid")
            start = at
            at = _skip_scan(data, at)
            if at == start:
                raise NotAnImage("JPEG: a scan (SOS) without image data")
            scans += 1
    if size is None or not scans:
        raise NotAnImage("JPEG: no frame header (SOF) or no scan (SOS): not a whole image")
    if not tables:
        raise NotAnImage("JPEG: no quantisation table (DQT): not a whole image")
    return size
