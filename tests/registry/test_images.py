"""The photo check as byte vectors: whole JPEGs and PNGs pass with their size; anything cut, corrupt or mislabelled
fails with the reason."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image as Pillow

from central.registry.images import MAX_BYTES, NotAnImage, TooLarge, UnsupportedType, check_photo
from tests.support.images import jpeg, png, png_chunk


@pytest.mark.parametrize("width,height", [(1, 1), (9, 5), (37, 23), (3, 17)])
@pytest.mark.parametrize("interlaced", [False, True])
def test_pngs_pass_with_their_size(width, height, interlaced):
    data = png(width, height, interlaced=interlaced)
    assert Pillow.open(io.BytesIO(data)).size == (width, height)  # the vector is a real PNG
    image = check_photo(data, "image/png")
    assert (image.content_type, image.width, image.height, image.data) == ("image/png", width, height, data)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGBA", "LA", "I;16"])
def test_pngs_of_every_colour_type_pass(mode):
    out = io.BytesIO()
    Pillow.new(mode, (13, 7)).save(out, "PNG")
    assert (check_photo(out.getvalue(), "image/png").width, check_photo(out.getvalue(), "image/png").height) == (13, 7)


@pytest.mark.parametrize("progressive", [False, True])
def test_jpegs_pass_with_their_size(progressive):
    image = check_photo(jpeg(40, 30, progressive=progressive), "image/jpeg; charset=binary")
    assert (image.content_type, image.width, image.height) == ("image/jpeg", 40, 30)


@pytest.mark.parametrize("data,content_type", [(png(9, 5), "image/png"), (jpeg(9, 5), "image/jpeg")])
def test_every_cut_short_image_fails(data, content_type):
    for cut in range(1, len(data)):
        with pytest.raises(NotAnImage):
            check_photo(data[:cut], content_type)


def test_corrupt_pngs_fail_with_the_reason():
    good = png(9, 5)
    flipped = bytearray(good)
    flipped[45] ^= 0xFF  # inside IDAT's data
    with pytest.raises(NotAnImage, match="'IDAT' chunk is corrupt"):
        check_photo(bytes(flipped), "image/png")
    with pytest.raises(NotAnImage, match="after the IEND chunk"):
        check_photo(good + b"extra", "image/png")

    def made(header: bytes, raw: bytes) -> bytes:
        return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw))
                + png_chunk(b"IEND", b""))

    rgb = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    assert check_photo(made(rgb, b"\x00" + bytes(6) + b"\x04" + bytes(6)), "image/png").width == 2
    with pytest.raises(NotAnImage, match="filter type 5"):
        check_photo(made(rgb, b"\x00" + bytes(6) + b"\x05" + bytes(6)), "image/png")
    with pytest.raises(NotAnImage, match="holds 13 of the 14 bytes"):
        check_photo(made(rgb, b"\x00" + bytes(6) + b"\x00" + bytes(5)), "image/png")
    with pytest.raises(NotAnImage, match="longer than the header"):
        check_photo(made(rgb, bytes(15)), "image/png")
    with pytest.raises(NotAnImage, match="bit depth 3"):
        check_photo(made(struct.pack(">IIBBBBB", 2, 2, 3, 2, 0, 0, 0), bytes(14)), "image/png")
    with pytest.raises(NotAnImage, match="without its palette"):
        check_photo(made(struct.pack(">IIBBBBB", 2, 2, 8, 3, 0, 0, 0), bytes(6)), "image/png")
    with pytest.raises(NotAnImage, match="5000x1 pixels; a photo is 1 to 4096 pixels a side"):
        check_photo(made(struct.pack(">IIBBBBB", 5000, 1, 8, 2, 0, 0, 0), b""), "image/png")
    no_data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", rgb) + png_chunk(b"IEND", b"")
    with pytest.raises(NotAnImage, match="no image data"):
        check_photo(no_data, "image/png")


def test_jpegs_browsers_cannot_show_fail():
    data = bytearray(jpeg(9, 5))
    sof = data.index(b"\xff\xc0")
    data[sof + 1] = 0xC9  # the same frame, arithmetic-coded
    with pytest.raises(NotAnImage, match="arithmetic-coded"):
        check_photo(bytes(data), "image/jpeg")
    with pytest.raises(NotAnImage, match="no end-of-image marker"):
        check_photo(jpeg(9, 5)[:-2] + b"\x00\x00", "image/jpeg")


def test_wrong_type_size_or_label_each_say_so():
    with pytest.raises(UnsupportedType, match="image/jpeg or image/png, got 'image/gif'"):
        check_photo(b"GIF89a", "image/gif")
    with pytest.raises(UnsupportedType, match="got 'none'"):
        check_photo(png(1, 1), None)
    with pytest.raises(NotAnImage, match="the body is a PNG image but Content-Type says image/jpeg"):
        check_photo(png(1, 1), "image/jpeg")
    with pytest.raises(NotAnImage, match="the body is not a JPEG or PNG image but Content-Type says image/png"):
        check_photo("王 is not a picture".encode(), "image/png")
    with pytest.raises(NotAnImage, match="empty"):
        check_photo(b"", "image/png")
    with pytest.raises(TooLarge, match=f"at most {MAX_BYTES} bytes .*this one is {MAX_BYTES + 1}"):
        check_photo(bytes(MAX_BYTES + 1), "image/png")
