"""Byte-vector tests for the ASCII card reader codec: exact bytes in, exact frames out."""
from __future__ import annotations

import pytest

from drivers.ascii_reader import (
    DECIMAL_LINE,
    EM4100,
    AsciiReaderDecoder,
    CardFrame,
    Rejected,
    encode_card,
    encode_decimal_line,
    encode_em4100,
)
from drivers.ascii_reader.codec import MAX_NOISE
from drivers.base import LocalProtocolError

# The RDM6300 example, worked by hand: data bytes 62 E3 08 6C ED.
#   0x62 ^ 0xE3 = 0x81;  0x81 ^ 0x08 = 0x89;  0x89 ^ 0x6C = 0xE5;  0xE5 ^ 0xED = 0x08  -> checksum "08".
# Version/customer byte 0x62, 4-byte id 0xE3086CED = 3808980205.
RDM = b"\x0262E3086CED08\x03"
RDM_CARD = CardFrame("62E3086CED", EM4100, RDM)
# Second card: 1A ^ 00 = 1A;  1A ^ C3 = D9;  D9 ^ D5 = 0C;  0C ^ E7 = EB  -> checksum "EB".
DEMO = b"\x021A00C3D5E7EB\x03"
DEMO_CARD = CardFrame("1A00C3D5E7", EM4100, DEMO)

EM4100_ROWS = [
    ("good", RDM, [RDM_CARD]),
    ("two frames", RDM + DEMO, [RDM_CARD, DEMO_CARD]),
    ("lower-case hex", b"\x0262e3086ced08\x03", [CardFrame("62E3086CED", EM4100, b"\x0262e3086ced08\x03")]),
    ("bad checksum", b"\x0262E3086CED09\x03", [Rejected("bad_checksum", b"\x0262E3086CED09\x03")]),
    ("bad hex", b"\x0262E3086CEG08\x03", [Rejected("bad_hex", b"\x0262E3086CEG08\x03")]),
    ("spaces are not hex", b"\x0262 3086CED08\x03", [Rejected("bad_hex", b"\x0262 3086CED08\x03")]),
    ("etx too early", b"\x0262E3086C08\x03", [Rejected("bad_length", b"\x0262E3086C08\x03")]),
    ("empty frame", b"\x02\x03", [Rejected("bad_length", b"\x02\x03")]),
    ("truncated then good", b"\x0262E308" + DEMO, [Rejected("truncated", b"\x0262E308"), DEMO_CARD]),
    ("too long, rest is noise", b"\x0262E3086CED08FF\x03" + DEMO,
     [Rejected("truncated", b"\x0262E3086CED08F"), Rejected("noise", b"F\x03"), DEMO_CARD]),
    ("noise between frames", RDM + b"\xff\x00junk\r\n" + DEMO,
     [RDM_CARD, Rejected("noise", b"\xff\x00junk\r\n"), DEMO_CARD]),
    ("noise before first frame", b"\x03\x03" + RDM, [Rejected("noise", b"\x03\x03"), RDM_CARD]),
    ("pending noise waits for its end", RDM + b"zz", [RDM_CARD]),
    ("partial frame waits", b"\x0262E3", []),
]


@pytest.mark.parametrize(("data", "expected"), [row[1:] for row in EM4100_ROWS], ids=[r[0] for r in EM4100_ROWS])
def test_em4100_vectors(data: bytes, expected: list[object]) -> None:
    assert AsciiReaderDecoder(EM4100).feed(data) == expected


DECIMAL_ROWS = [
    ("crlf", b"0012345678\r\n", [CardFrame("0012345678", DECIMAL_LINE, b"0012345678")]),
    ("cr", b"1234\r", [CardFrame("1234", DECIMAL_LINE, b"1234")]),
    ("lf", b"1234\n", [CardFrame("1234", DECIMAL_LINE, b"1234")]),
    ("mixed terminators and blank lines", b"\r\n1234\n\n5678\r\r\n",
     [CardFrame("1234", DECIMAL_LINE, b"1234"), CardFrame("5678", DECIMAL_LINE, b"5678")]),
    ("too short", b"123\r\n", [Rejected("bad_length", b"123")]),
    ("longest allowed", b"9" * 20 + b"\r\n", [CardFrame("9" * 20, DECIMAL_LINE, b"9" * 20)]),
    ("too long: rejected once, rest of line dropped", b"9" * 25 + b"\r\n1234\r\n",
     [Rejected("bad_length", b"9" * 21), CardFrame("1234", DECIMAL_LINE, b"1234")]),
    ("not digits", b"12A4\r\n", [Rejected("not_digits", b"12A4")]),
    ("sign is not a digit", b"-1234\r\n", [Rejected("not_digits", b"-1234")]),
    ("unterminated waits", b"1234", []),
]


@pytest.mark.parametrize(("data", "expected"), [row[1:] for row in DECIMAL_ROWS], ids=[r[0] for r in DECIMAL_ROWS])
def test_decimal_line_vectors(data: bytes, expected: list[object]) -> None:
    assert AsciiReaderDecoder(DECIMAL_LINE).feed(data) == expected


def test_decimal_line_custom_bounds() -> None:
    decoder = AsciiReaderDecoder(DECIMAL_LINE, min_digits=6, max_digits=8)
    assert decoder.feed(b"12345\r123456\r12345678\r123456789\r") == [
        Rejected("bad_length", b"12345"),
        CardFrame("123456", DECIMAL_LINE, b"123456"),
        CardFrame("12345678", DECIMAL_LINE, b"12345678"),
        Rejected("bad_length", b"123456789"),
    ]


def test_em4100_fields() -> None:
    (frame,) = AsciiReaderDecoder(EM4100).feed(RDM)
    assert isinstance(frame, CardFrame)
    assert (frame.facility, frame.id_decimal) == (0x62, 3808980205)
    assert CardFrame("1234", DECIMAL_LINE, b"1234").id_decimal is None


@pytest.mark.parametrize(("fmt", "stream"), [
    (EM4100, b"\x01" + RDM + b"\x0262E3" + DEMO + b"noise" + b"\x0262E3086CED09\x03" + b"\x0262E3086CED08FF\x03"),
    (DECIMAL_LINE, b"\n1234\r\n12x4\r" + b"7" * 30 + b"\r\n55\n00001234\r"),
])
def test_byte_by_byte_equals_whole(fmt: str, stream: bytes) -> None:
    whole = AsciiReaderDecoder(fmt).feed(stream)
    decoder = AsciiReaderDecoder(fmt)
    one_by_one = [item for i in range(len(stream)) for item in decoder.feed(stream[i:i + 1])]
    assert one_by_one == whole
    assert len(whole) >= 5


def test_noise_without_frame_start_stays_bounded() -> None:
    decoder = AsciiReaderDecoder(EM4100)
    out = []
    for _ in range(1000):
        out += decoder.feed(b"\x55" * 1000)
        assert decoder.buffered < MAX_NOISE
    assert out == [Rejected("noise", b"\x55" * MAX_NOISE)] * (1_000_000 // MAX_NOISE)
    assert decoder.feed(RDM) == [Rejected("noise", b"\x55" * (1_000_000 % MAX_NOISE)), RDM_CARD]


def test_frame_without_end_stays_bounded() -> None:
    decoder = AsciiReaderDecoder(EM4100)
    decoder.feed(b"\x02" + b"A" * 100_000)
    assert decoder.buffered < MAX_NOISE
    lines = AsciiReaderDecoder(DECIMAL_LINE)
    assert lines.feed(b"1" * 100_000) == [Rejected("bad_length", b"1" * 21)]
    assert lines.buffered == 0
    assert lines.feed(b"\r\n1234\r\n") == [CardFrame("1234", DECIMAL_LINE, b"1234")]


@pytest.mark.parametrize("card", ["62E3086CED", "1A00C3D5E7", "0000000000", "FFFFFFFFFF"])
def test_em4100_round_trip(card: str) -> None:
    assert AsciiReaderDecoder(EM4100).feed(encode_em4100(card)) == [CardFrame(card, EM4100, encode_em4100(card))]


def test_encoders_vectors() -> None:
    assert encode_em4100("62E3086CED") == RDM
    assert encode_em4100("62e3086ced") == RDM  # output is always upper case
    assert encode_decimal_line("0012345678") == b"0012345678\r\n"
    assert encode_card(DECIMAL_LINE, "1234") == b"1234\r\n"
    assert AsciiReaderDecoder(DECIMAL_LINE).feed(encode_decimal_line("0012345678")) == [
        CardFrame("0012345678", DECIMAL_LINE, b"0012345678")]


@pytest.mark.parametrize("card", [
    "62E3086CE", "62E3086CED0", "62E3086CEG", "62 E3086CE", "0x62E3086C", "62E3086CÉD", "",
])
def test_encode_em4100_rejects(card: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode_em4100(card)


@pytest.mark.parametrize("digits", ["", "12a4", "-123", "١٢٣٤", "12 34"])
def test_encode_decimal_line_rejects(digits: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode_decimal_line(digits)


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="known: decimal_line, em4100"):
        AsciiReaderDecoder("wiegand26")
    with pytest.raises(ValueError):
        AsciiReaderDecoder(DECIMAL_LINE, min_digits=8, max_digits=4)


def test_any_split_of_valid_frames_decodes_the_same() -> None:
    """Property: however a stream of valid frames is cut into chunks, the same cards come out."""
    from hypothesis import given
    from hypothesis import strategies as st

    em4100_cards = st.integers(0, 2**40 - 1).map(lambda n: f"{n:010X}")
    decimal_cards = st.text(alphabet="0123456789", min_size=4, max_size=20)
    streams = st.one_of(
        st.tuples(st.just(EM4100), st.lists(em4100_cards, max_size=8)),
        st.tuples(st.just(DECIMAL_LINE), st.lists(decimal_cards, max_size=8)),
    )

    @given(streams, st.data())
    def check(fmt_cards: tuple[str, list[str]], data: st.DataObject) -> None:
        fmt, cards = fmt_cards
        stream = b"".join(encode_card(fmt, card) for card in cards)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
        decoder = AsciiReaderDecoder(fmt)
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        out = [item for chunk in chunks for item in decoder.feed(chunk)]
        assert out == [CardFrame(card, fmt, encode_card(fmt, card).rstrip(b"\r\n")) for card in cards]

    check()


TEXT_ROWS = [
    ("a pass's text", b"0123ABCD-xyz\r\n", [CardFrame("0123ABCD-xyz", "text_line", b"0123ABCD-xyz")]),
    ("LF only, spaces kept", b"A B\n", [CardFrame("A B", "text_line", b"A B")]),
    ("empty lines skipped", b"\r\n\r\nX\r\n", [CardFrame("X", "text_line", b"X")]),
    ("control byte", b"AB\x07C\r\nOK\r\n", [Rejected("not_text", b"AB\x07C"), CardFrame("OK", "text_line", b"OK")]),
    ("not ASCII", b"\xe4\xb8\xad\r\n", [Rejected("not_text", b"\xe4\xb8\xad")]),
]


@pytest.mark.parametrize(("data", "expected"), [row[1:] for row in TEXT_ROWS], ids=[row[0] for row in TEXT_ROWS])
def test_text_line_vectors(data: bytes, expected: list[object]) -> None:
    assert AsciiReaderDecoder("text_line").feed(data) == expected


def test_an_over_long_text_line_is_rejected_and_the_next_line_read() -> None:
    from drivers.ascii_reader import MAX_TEXT_LINE, encode_text_line

    out = AsciiReaderDecoder("text_line").feed(b"A" * (MAX_TEXT_LINE + 10) + b"\r\n" + encode_text_line("NEXT"))
    assert [type(item).__name__ for item in out] == ["Rejected", "CardFrame"]
    assert out[0].reason == "bad_length" and out[1].card == "NEXT"
    with pytest.raises(LocalProtocolError):
        encode_text_line("tab\there")
