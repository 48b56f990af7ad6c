"""Byte-vector tests for the Wiegand codec: exact bits and bytes in, exact reads out."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import LocalProtocolError
from drivers.wiegand import (
    BINARY_STX,
    DECIMAL_LINE_FC,
    FORMATS,
    HEX_LINE,
    Rejected,
    WiegandCard,
    WiegandDecoder,
    WiegandFrame,
    decode_bits,
    encode_binary_stx,
    encode_bits,
    encode_decimal_data,
    encode_decimal_line_fc,
    encode_frame,
    encode_hex_line,
)
from drivers.wiegand.codec import MAX_LINE, MAX_NOISE

# Wiegand 26, facility 18, card number 12345, worked by hand (bit 0 is sent first):
#   facility 18     = 0001 0010                 (bits 1..8)
#   number 12345    = 0x3039 = 0011 0000 0011 1001   (bits 9..24)
#   bits 1..12      = 0001 0010 0011  -> four 1s, even already -> even parity bit 0 = 0
#   bits 13..24     = 0000 0011 1001  -> four 1s, even        -> odd parity bit 25 = 1
#   frame           = 0 00010010 0011000000111001 1 = 0x0246073  (hex_line: "0246073")
#   card id         = 18 * 65536 + 12345 = 1191993 -> "0001191993"
#   binary_stx      : 26 bits + 6 zero bits = 00001001 00011000 00011100 11000000 = 09 18 1C C0;
#                     XOR 1A^09 = 13, ^18 = 0B, ^1C = 17, ^C0 = D7 -> 02 1A 09 18 1C C0 D7 03
W26 = 0x0246073
W26_CARD = "0001191993"
# Wiegand 34, facility 1001 (0x03E9: seven 1s -> even parity bit 1), number 54321 (0xD431: seven 1s -> odd
# parity bit 0): 1 0000001111101001 1101010000110001 0 = 0x207D3A862; 1001 * 65536 + 54321 = 65655857.
# binary_stx: the 34 bits + 6 zero bits = 81 F4 EA 18 80; XOR 22^81^F4^EA^18^80 = 25.
W34 = 0x207D3A862
W34_CARD = "0065655857"


def card_of(item: object) -> str:
    assert isinstance(item, WiegandFrame), item
    return item.card


def hex_frame(raw: bytes, card: str, facility: int, number: int, bits: int | None) -> WiegandFrame:
    return WiegandFrame(card, HEX_LINE, raw, facility, number, bits)


GOOD26_HEX = hex_frame(b"0246073", W26_CARD, 18, 12345, 26)
GOOD34_HEX = hex_frame(b"207D3A862", W34_CARD, 1001, 54321, 34)

BITS_ROWS = [
    ("w26 18/12345", 18, 12345, 26, W26),
    ("w26 zero", 0, 0, 26, 0x0000001),  # no 1s: even parity 0, odd parity 1
    ("w26 all ones", 255, 65535, 26, 0x1FFFFFF),
    ("w34 1001/54321", 1001, 54321, 34, W34),
    ("w34 zero", 0, 0, 34, 0x000000001),
    ("w34 all ones", 65535, 65535, 34, 0x1FFFFFFFF),
]


@pytest.mark.parametrize(("facility", "number", "length", "bits"), [r[1:] for r in BITS_ROWS],
                         ids=[r[0] for r in BITS_ROWS])
def test_bits_vectors(facility: int, number: int, length: int, bits: int) -> None:
    assert encode_bits(facility, number, length) == bits
    assert decode_bits(bits, length) == WiegandCard(length, facility, number)


@pytest.mark.parametrize(("bits", "length"), [
    (W26 ^ 1 << 25, 26),  # even parity bit flipped
    (W26 ^ 1, 26),  # odd parity bit flipped
    (W26 ^ 1 << 24, 26),  # bit 1, under the even parity
    (W26 ^ 1 << 1, 26),  # bit 24, under the odd parity
    (W26 ^ (1 << 25 | 1), 26),  # both parity bits
    (W34 ^ 1 << 33, 34),
    (W34 ^ 1, 34),
    (W34 ^ 1 << 17, 34),  # bit 16, the last under the even parity
    (W34 ^ 1 << 16, 34),  # bit 17, the first under the odd parity
])
def test_bad_parity(bits: int, length: int) -> None:
    assert decode_bits(bits, length) == Rejected("bad_parity")


@pytest.mark.parametrize(("bits", "length"), [(W26, 30), (1 << 26, 26), (-1, 26), (W34, 26), (W26, 0)])
def test_bad_length(bits: int, length: int) -> None:
    assert decode_bits(bits, length) == Rejected("bad_length")


@pytest.mark.parametrize(("facility", "number", "length"), [
    (256, 1, 26), (1, 65536, 26), (-1, 1, 26), (1, -1, 34), (65536, 1, 34), (1, 1, 37)])
def test_encode_bits_rejects(facility: int, number: int, length: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_bits(facility, number, length)


HEX_ROWS = [
    ("w26", b"0246073\r\n", [GOOD26_HEX]),
    ("w34 lower case", b"207d3a862\r\n", [hex_frame(b"207d3a862", W34_CARD, 1001, 54321, 34)]),
    ("two reads, lf and cr", b"0246073\n207D3A862\r", [GOOD26_HEX, GOOD34_HEX]),
    ("blank lines skipped", b"\r\n\r\n0246073\r\n\r\n", [GOOD26_HEX]),
    ("bad even parity", b"2246073\r\n", [Rejected("bad_parity", b"2246073")]),
    ("bad odd parity", b"0246072\r\n", [Rejected("bad_parity", b"0246072")]),
    ("bad parity then good", b"0246072\r\n0246073\r\n", [Rejected("bad_parity", b"0246072"), GOOD26_HEX]),
    ("8 digits", b"00246073\r\n", [Rejected("bad_length", b"00246073")]),
    ("digits lost", b"02460\r\n", [Rejected("bad_length", b"02460")]),
    ("27 bits in 7 digits", b"4246073\r\n", [Rejected("bad_length", b"4246073")]),
    ("noise line", b"\xff\x00zz\r\n0246073\r\n", [Rejected("noise", b"\xff\x00zz"), GOOD26_HEX]),
    ("spaces are noise", b"024 6073\r\n", [Rejected("noise", b"024 6073")]),
    ("over-long hex", b"0" * 40 + b"\r\n0246073\r\n", [Rejected("bad_length", b"0" * (MAX_LINE + 1)), GOOD26_HEX]),
    ("over-long junk", b"x" * 40 + b"\r\n", [Rejected("noise", b"x" * (MAX_LINE + 1))]),
    ("partial line waits", b"02460", []),
]


@pytest.mark.parametrize(("data", "expected"), [r[1:] for r in HEX_ROWS], ids=[r[0] for r in HEX_ROWS])
def test_hex_line_vectors(data: bytes, expected: list[object]) -> None:
    assert WiegandDecoder(HEX_LINE).feed(data) == expected


def dec_frame(raw: bytes, facility: int, number: int, bits: int | None = None) -> WiegandFrame:
    return WiegandFrame(f"{facility * 65536 + number:010d}", DECIMAL_LINE_FC, raw, facility, number, bits)


DECIMAL_ROWS = [
    ("facility,number", b"18,12345\r\n", [dec_frame(b"18,12345", 18, 12345)]),
    ("leading zeros", b"018,012345\r\n", [dec_frame(b"018,012345", 18, 12345)]),
    ("data bits", b"0001191993\r\n", [dec_frame(b"0001191993", 18, 12345)]),
    ("data bits unpadded", b"1191993\n", [dec_frame(b"1191993", 18, 12345)]),
    ("w34 facility,number", b"1001,54321\r\n", [dec_frame(b"1001,54321", 1001, 54321)]),
    ("w34 data bits", b"0065655857\r\n", [dec_frame(b"0065655857", 1001, 54321)]),
    ("number too big", b"18,65536\r\n", [Rejected("out_of_range", b"18,65536")]),
    ("facility too big", b"65536,1\r\n", [Rejected("out_of_range", b"65536,1")]),
    ("data over 32 bits", b"4294967296\r\n", [Rejected("out_of_range", b"4294967296")]),
    ("semicolon", b"18;12345\r\n", [Rejected("noise", b"18;12345")]),
    ("space after comma", b"18, 12345\r\n", [Rejected("noise", b"18, 12345")]),
    ("sign", b"-18,5\r\n", [Rejected("noise", b"-18,5")]),
    ("missing facility", b",5\r\n18,12345\r\n", [Rejected("noise", b",5"), dec_frame(b"18,12345", 18, 12345)]),
    ("too many fields", b"1,2,3\r\n", [Rejected("noise", b"1,2,3")]),
]


@pytest.mark.parametrize(("data", "expected"), [r[1:] for r in DECIMAL_ROWS], ids=[r[0] for r in DECIMAL_ROWS])
def test_decimal_line_fc_vectors(data: bytes, expected: list[object]) -> None:
    assert WiegandDecoder(DECIMAL_LINE_FC).feed(data) == expected


def test_decimal_line_fc_with_a_set_length() -> None:
    assert WiegandDecoder(DECIMAL_LINE_FC, bits=26).feed(b"255,1\r\n256,1\r\n16777216\r\n") == [
        dec_frame(b"255,1", 255, 1, 26), Rejected("out_of_range", b"256,1"), Rejected("out_of_range", b"16777216")]
    assert WiegandDecoder(DECIMAL_LINE_FC, bits=34).feed(b"256,1\r\n") == [dec_frame(b"256,1", 256, 1, 34)]


B26 = bytes.fromhex("02 1A 09 18 1C C0 D7 03")
B34 = bytes.fromhex("02 22 81 F4 EA 18 80 25 03")
GOOD26_BIN = WiegandFrame(W26_CARD, BINARY_STX, B26, 18, 12345, 26)
GOOD34_BIN = WiegandFrame(W34_CARD, BINARY_STX, B34, 1001, 54321, 34)
# Odd parity bit cleared: 09 18 1C 80, XOR 1A^09^18^1C^80 = 97.
B26_BAD_PARITY = bytes.fromhex("02 1A 09 18 1C 80 97 03")
# 37 bits of zeros: 5 bytes, XOR = 25. Framed well, but no length this codec reads.
B37 = bytes.fromhex("02 25 00 00 00 00 00 25 03")

BINARY_ROWS = [
    ("w26", B26, [GOOD26_BIN]),
    ("w34", B34, [GOOD34_BIN]),
    ("back to back", B26 + B34 + B26, [GOOD26_BIN, GOOD34_BIN, GOOD26_BIN]),
    ("bad parity", B26_BAD_PARITY + B26, [Rejected("bad_parity", B26_BAD_PARITY), GOOD26_BIN]),
    ("bad checksum", B26[:6] + b"\xd6\x03", [Rejected("bad_checksum", B26[:6] + b"\xd6\x03")]),
    ("padding bit set", bytes.fromhex("02 1A 09 18 1C C1 D6 03"),
     [Rejected("bad_padding", bytes.fromhex("02 1A 09 18 1C C1 D6 03"))]),
    ("37 bits", B37 + B26, [Rejected("bad_length", B37), GOOD26_BIN]),
    ("zero bit count", b"\x02\x00" + B26, [Rejected("bad_length", b"\x02\x00"), GOOD26_BIN]),
    ("bit count past 64", b"\x02\x41" + B26, [Rejected("bad_length", b"\x02\x41"), GOOD26_BIN]),
    ("cut short by the next read", B26[:3] + B26, [Rejected("truncated", B26[:3]), GOOD26_BIN]),
    ("only the STX", B26[:1] + B26, [Rejected("truncated", B26[:1]), GOOD26_BIN]),
    ("ETX lost", B26[:-1] + B34, [Rejected("truncated", B26[:-1]), GOOD34_BIN]),
    ("wrong byte where the ETX goes", B26[:-1] + b"\x04" + B26,
     [Rejected("truncated", B26[:-1] + b"\x04"), GOOD26_BIN]),
    ("noise between", B26 + b"\xff\x00junk\r\n" + B26,
     [GOOD26_BIN, Rejected("noise", b"\xff\x00junk\r\n"), GOOD26_BIN]),
    ("noise first", b"\x03\x03" + B26, [Rejected("noise", b"\x03\x03"), GOOD26_BIN]),
    ("pending noise waits for its end", B26 + b"zz", [GOOD26_BIN]),
    ("partial frame waits", B26[:5], []),
]


@pytest.mark.parametrize(("data", "expected"), [r[1:] for r in BINARY_ROWS], ids=[r[0] for r in BINARY_ROWS])
def test_binary_stx_vectors(data: bytes, expected: list[object]) -> None:
    assert WiegandDecoder(BINARY_STX).feed(data) == expected


@pytest.mark.parametrize(("fmt", "w34"), [(HEX_LINE, b"207D3A862\r\n"), (BINARY_STX, B34)])
def test_a_set_length_rejects_the_other(fmt: str, w34: bytes) -> None:
    assert WiegandDecoder(fmt, bits=26).feed(w34) == [Rejected("bad_length", w34.rstrip(b"\r\n"))]
    assert card_of(*WiegandDecoder(fmt, bits=34).feed(w34)) == W34_CARD


def test_encoders_vectors() -> None:
    assert encode_frame(HEX_LINE, 18, 12345) == b"0246073\r\n"
    assert encode_frame(HEX_LINE, 1001, 54321, 34) == b"207D3A862\r\n"
    assert encode_frame(DECIMAL_LINE_FC, 18, 12345) == b"18,12345\r\n"
    assert encode_frame(DECIMAL_LINE_FC, 1001, 54321, 34) == b"1001,54321\r\n"
    assert encode_frame(BINARY_STX, 18, 12345) == B26
    assert encode_frame(BINARY_STX, 1001, 54321, 34) == B34
    assert encode_decimal_data(18, 12345) == b"0001191993\r\n"
    assert encode_hex_line(W26 ^ 1, 26) == b"0246072\r\n"  # raw encoders send bad parity as asked
    assert encode_binary_stx(W26 ^ 1, 26) == B26_BAD_PARITY
    assert encode_decimal_line_fc(W26 ^ 1, 26) == b"18,12345\r\n"  # parity is not sent at all


@pytest.mark.parametrize("call", [
    lambda: encode_hex_line(1 << 26, 26),
    lambda: encode_binary_stx(-1, 26),
    lambda: encode_binary_stx(0, 65),
    lambda: encode_decimal_line_fc(0, 8),
    lambda: encode_decimal_data(0, 65536),
    lambda: encode_frame(HEX_LINE, 256, 1, 26),
])
def test_encoders_reject(call) -> None:
    with pytest.raises(LocalProtocolError):
        call()


def test_card_id_is_the_same_for_every_format_and_length() -> None:
    for fmt in FORMATS:
        for length in (26, 34):
            (frame,) = WiegandDecoder(fmt).feed(encode_frame(fmt, 18, 12345, length))
            assert isinstance(frame, WiegandFrame)
            assert (frame.card, frame.facility, frame.number, frame.id_decimal) == (W26_CARD, 18, 12345, 1191993)
    assert card_of(*WiegandDecoder(DECIMAL_LINE_FC).feed(encode_decimal_data(18, 12345))) == W26_CARD


def test_noise_without_frame_start_stays_bounded() -> None:
    decoder = WiegandDecoder(BINARY_STX)
    out = []
    for _ in range(1000):
        out += decoder.feed(b"\x55" * 1000)
        assert decoder.buffered < MAX_NOISE
    assert out == [Rejected("noise", b"\x55" * MAX_NOISE)] * (1_000_000 // MAX_NOISE)
    assert decoder.feed(B26) == [Rejected("noise", b"\x55" * (1_000_000 % MAX_NOISE)), GOOD26_BIN]


@pytest.mark.parametrize("fmt", [HEX_LINE, DECIMAL_LINE_FC])
def test_line_without_end_stays_bounded(fmt: str) -> None:
    decoder = WiegandDecoder(fmt)
    assert decoder.feed(b"1" * 100_000) == [Rejected("bad_length", b"1" * (MAX_LINE + 1))]
    assert decoder.buffered == 0
    assert card_of(*decoder.feed(b"\r\n" + encode_frame(fmt, 18, 12345))) == W26_CARD


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="known: binary_stx, decimal_line_fc, hex_line"):
        WiegandDecoder("em4100")
    with pytest.raises(ValueError, match="26, 34"):
        WiegandDecoder(HEX_LINE, bits=37)


@given(st.integers(0, 255), st.integers(0, 65535))
def test_w26_round_trip(facility: int, number: int) -> None:
    assert decode_bits(encode_bits(facility, number, 26), 26) == WiegandCard(26, facility, number)


@given(st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 33))
def test_w34_any_single_bit_error_is_caught(facility: int, number: int, bit: int) -> None:
    bits = encode_bits(facility, number, 34)
    assert decode_bits(bits, 34) == WiegandCard(34, facility, number)
    assert decode_bits(bits ^ 1 << bit, 34) == Rejected("bad_parity")


CARDS = st.tuples(st.sampled_from((26, 34)), st.integers(0, 255), st.integers(0, 65535))


def _piece(fmt: str):
    """One stretch of a converter's output: a good read, a bad-parity read, a read cut short, or noise."""
    good = CARDS.map(lambda c: encode_frame(fmt, c[1], c[2], c[0]))
    bad_parity = CARDS.map(lambda c: FORMATS[fmt].encode(encode_bits(c[1], c[2], c[0]) ^ 1, c[0]))
    cut = st.tuples(good, st.integers(1, 8)).map(lambda g: g[0][:-g[1]] if len(g[0]) > g[1] else g[0][:1])
    return st.one_of(good, bad_parity, cut, st.binary(max_size=12))


STREAMS = st.sampled_from(sorted(FORMATS)).flatmap(
    lambda fmt: st.tuples(st.just(fmt), st.lists(_piece(fmt), max_size=8)))


@given(STREAMS, st.data())
def test_any_split_decodes_the_same(fmt_pieces: tuple[str, list[bytes]], data: st.DataObject) -> None:
    """Property: however a stream (garbage included) is cut into chunks, the same items come out."""
    fmt, pieces = fmt_pieces
    stream = b"".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    decoder = WiegandDecoder(fmt)
    assert [item for chunk in chunks for item in decoder.feed(chunk)] == WiegandDecoder(fmt).feed(stream)
    one_by_one = WiegandDecoder(fmt)
    assert [item for i in range(len(stream)) for item in one_by_one.feed(stream[i:i + 1])] == \
        WiegandDecoder(fmt).feed(stream)


@given(st.sampled_from(sorted(FORMATS)), st.lists(CARDS, max_size=8), st.data())
def test_any_split_of_good_reads_gives_every_card(fmt: str, cards: list[tuple[int, int, int]],
                                                  data: st.DataObject) -> None:
    """Property: valid reads come out whole and in order, however the stream is cut."""
    stream = b"".join(encode_frame(fmt, facility, number, length) for length, facility, number in cards)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = WiegandDecoder(fmt)
    out = [item for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True) for item in decoder.feed(stream[a:b])]
    assert all(isinstance(item, WiegandFrame) for item in out)
    assert [(item.card, item.facility, item.number) for item in out if isinstance(item, WiegandFrame)] == [
        (f"{facility * 65536 + number:010d}", facility, number) for _, facility, number in cards]
