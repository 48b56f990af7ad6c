"""Small test images made with the standard library (a PNG) or Pillow (a JPEG; fpdf2 depends on it)."""
from __future__ import annotations

import io
import struct
import zlib


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, *, interlaced: bool = False) -> bytes:
    """An 8-bit RGB PNG of a diagonal gradient (each scanline filter type 0)."""
    def row(y: int, xs: range) -> bytes:
        return b"\x00" + b"".join(bytes(((x * 7) % 256, (y * 11) % 256, ((x + y) * 5) % 256)) for x in xs)

    if interlaced:
        raw = b""
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                               (0, 1, 1, 2)):
            xs = range(x0, width, dx)
            if len(xs):
                raw += b"".join(row(y, xs) for y in range(y0, height, dy))
    else:
        raw = b"".join(row(y, range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1 if interlaced else 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def jpeg(width: int, height: int, *, progressive: bool = False) -> bytes:
    """A JPEG made by Pillow."""
    from PIL import Image

    image = Image.new("RGB", (width, height), (200, 120, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, progressive=progressive)
    return out.getvalue()
