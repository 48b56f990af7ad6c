"""Byte-vector tests for the Modbus register codec: exact register words in, exact Decimal readings out."""
from __future__ import annotations

import math
import struct
from decimal import Decimal

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from drivers.base import LocalProtocolError, RemoteProtocolError
from drivers.modbus_meter import (
    ORDERS,
    TYPES,
    ReadBlock,
    Register,
    decode_block,
    decode_value,
    encode_value,
    plan_reads,
)


def reg(type_: str, order: str = "ABCD", *, scale: Decimal | int | str = 1, address: int = 0,
        function: str = "holding", name: str = "x") -> Register:
    return Register(name=name, address=address, function=function, type=type_, order=order,  # type: ignore[arg-type]
                    scale=scale)


# float32 123.456 is 0x42F6E979: bytes A=42 B=F6 C=E9 D=79, laid out on the wire as each order names them.
# int32 -123456789 is 0xF8A432EB; uint32 305419896 is 0x12345678.
VECTORS = [
    ("float32 ABCD", "float32", "ABCD", 1, [0x42F6, 0xE979], "123.456"),
    ("float32 CDAB", "float32", "CDAB", 1, [0xE979, 0x42F6], "123.456"),
    ("float32 BADC", "float32", "BADC", 1, [0xF642, 0x79E9], "123.456"),
    ("float32 DCBA", "float32", "DCBA", 1, [0x79E9, 0xF642], "123.456"),
    ("float32 0.1 is its shortest string", "float32", "ABCD", 1, [0x3DCC, 0xCCCD], "0.1"),
    ("float32 one", "float32", "ABCD", 1, [0x3F80, 0x0000], "1"),
    ("float32 minus zero", "float32", "ABCD", 1, [0x8000, 0x0000], "-0"),
    ("float32 Wh scaled to kWh", "float32", "CDAB", "0.001", [0xE979, 0x42F6], "0.123456"),
    ("int16 -2", "int16", "ABCD", 1, [0xFFFE], "-2"),
    ("int16 -2 byte-swapped", "int16", "BADC", 1, [0xFEFF], "-2"),
    ("int16 min", "int16", "CDAB", 1, [0x8000], "-32768"),
    ("int16 min, DCBA swaps its bytes", "int16", "DCBA", 1, [0x0080], "-32768"),
    ("int16 tenths", "int16", "ABCD", "0.1", [0xFFE7], "-2.5"),
    ("uint16 max", "uint16", "ABCD", 1, [0xFFFF], "65535"),
    ("uint16 CDAB is AB", "uint16", "CDAB", 1, [0x1234], "4660"),
    ("uint16 BADC is BA", "uint16", "BADC", 1, [0x3412], "4660"),
    ("uint16 times ten", "uint16", "ABCD", 10, [0x04D2], "12340"),
    ("int32 ABCD", "int32", "ABCD", 1, [0xF8A4, 0x32EB], "-123456789"),
    ("int32 CDAB", "int32", "CDAB", 1, [0x32EB, 0xF8A4], "-123456789"),
    ("int32 BADC", "int32", "BADC", 1, [0xA4F8, 0xEB32], "-123456789"),
    ("int32 DCBA", "int32", "DCBA", 1, [0xEB32, 0xA4F8], "-123456789"),
    ("int32 -1", "int32", "CDAB", 1, [0xFFFF, 0xFFFF], "-1"),
    ("int32 min", "int32", "ABCD", 1, [0x8000, 0x0000], "-2147483648"),
    ("int32 min CDAB", "int32", "CDAB", 1, [0x0000, 0x8000], "-2147483648"),
    ("uint32 ABCD", "uint32", "ABCD", 1, [0x1234, 0x5678], "305419896"),
    ("uint32 CDAB", "uint32", "CDAB", 1, [0x5678, 0x1234], "305419896"),
    ("uint32 BADC", "uint32", "BADC", 1, [0x3412, 0x7856], "305419896"),
    ("uint32 DCBA", "uint32", "DCBA", 1, [0x7856, 0x3412], "305419896"),
    ("uint32 max", "uint32", "DCBA", 1, [0xFFFF, 0xFFFF], "4294967295"),
    ("uint32 litres as m3", "uint32", "CDAB", "0.001", [0xE240, 0x0001], "123.456"),
    ("bcd16", "bcd16", "ABCD", 1, [0x1234], "1234"),
    ("bcd16 byte-swapped", "bcd16", "BADC", 1, [0x3412], "1234"),
    ("bcd16 leading zeros", "bcd16", "ABCD", 1, [0x0007], "7"),
    ("bcd32 ABCD", "bcd32", "ABCD", 1, [0x1234, 0x5678], "12345678"),
    ("bcd32 CDAB", "bcd32", "CDAB", 1, [0x5678, 0x1234], "12345678"),
    ("bcd32 DCBA", "bcd32", "DCBA", 1, [0x7856, 0x3412], "12345678"),
    ("bcd32 hundredths", "bcd32", "ABCD", "0.01", [0x0012, 0x3456], "1234.56"),
]


@pytest.mark.parametrize(("type_", "order", "scale", "words", "value"), [r[1:] for r in VECTORS],
                         ids=[r[0] for r in VECTORS])
def test_vectors(type_: str, order: str, scale: str, words: list[int], value: str) -> None:
    entry = reg(type_, order, scale=scale)
    decoded = decode_value(entry, words)
    assert decoded == Decimal(value)
    assert str(decoded) == value
    assert encode_value(entry, Decimal(value)) == words


def test_float32_keeps_decimal_digits_not_binary_noise() -> None:
    assert str(decode_value(reg("float32"), [0x42F6, 0xE979])) == "123.456"
    assert str(decode_value(reg("float32", scale="0.01"), [0x3F80, 0x0000])) == "0.01"


REMOTE_ERRORS = [
    ("bcd16 nibble A", reg("bcd16", address=7, name="heat"), [0x12A4],
     r"holding register 7 \(heat\): 0x12A4 .*not BCD"),
    ("bcd32 nibble F", reg("bcd32", "CDAB", address=40, function="input", name="energy"), [0x0000, 0xF000],
     r"input register 40 \(energy\): 0xF0000000 .*not BCD"),
    ("float32 NaN", reg("float32", name="power"), [0x7FC0, 0x0000], r"holding register 0 \(power\): .* nan"),
    ("float32 +inf", reg("float32"), [0x7F80, 0x0000], "inf, not a reading"),
    ("float32 -inf CDAB", reg("float32", "CDAB"), [0x0000, 0xFF80], "-inf, not a reading"),
    ("too few words", reg("uint32"), [0x0001], "expected 2 registers, got 1"),
    ("not a 16-bit word", reg("uint16"), [0x10000], "16-bit"),
]


@pytest.mark.parametrize(("entry", "words", "match"), [r[1:] for r in REMOTE_ERRORS],
                         ids=[r[0] for r in REMOTE_ERRORS])
def test_bad_words_are_the_meters_fault(entry: Register, words: list[int], match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_value(entry, words)


LOCAL_ERRORS = [
    ("uint16 over", "uint16", 1, 65536, "outside the uint16 range 0..65535"),
    ("uint16 negative", "uint16", 1, -1, "outside the uint16 range"),
    ("int16 over", "int16", 1, 32768, "outside the int16 range -32768..32767"),
    ("int32 under", "int32", 1, -(2**31) - 1, "outside the int32 range"),
    ("uint32 over", "uint32", 1, 2**32, "outside the uint32 range"),
    ("bcd16 five digits", "bcd16", 1, 10000, "does not fit 4 BCD digits"),
    ("bcd32 negative", "bcd32", 1, -1, "does not fit 8 BCD digits"),
    ("not a multiple of the scale", "uint32", "0.01", Decimal("1.234"), "not a whole number"),
    ("scaled out of range", "uint16", "0.1", Decimal("6553.6"), "outside the uint16 range"),
    ("float32 too big", "float32", 1, Decimal("1e39"), "outside the float32 range"),
    ("NaN", "float32", 1, Decimal("NaN"), "not a finite number"),
    ("infinity", "int32", 1, Decimal("-Infinity"), "not a finite number"),
]


@pytest.mark.parametrize(("type_", "scale", "value", "match"), [r[1:] for r in LOCAL_ERRORS],
                         ids=[r[0] for r in LOCAL_ERRORS])
def test_values_that_do_not_fit_are_ours(type_: str, scale: str, value: Decimal, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        encode_value(reg(type_, scale=scale, name="volume"), value)


def test_encode_wants_exact_numbers() -> None:
    with pytest.raises(TypeError, match="not float"):
        encode_value(reg("float32"), 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fields", "error", "match"), [
    ({"type": "int64"}, ValueError, "unknown register type 'int64'"),
    ({"function": "coil"}, ValueError, "'holding' or 'input'"),
    ({"order": "ACBD"}, ValueError, "order must be one of ABCD, CDAB, BADC, DCBA"),
    ({"address": -1}, ValueError, "address"),
    ({"address": 65535, "type": "uint32"}, ValueError, "address 65535"),
    ({"scale": 0}, ValueError, "non-zero"),
    ({"scale": "x"}, ValueError, "not a number"),
    ({"scale": 0.1}, TypeError, "not float"),
    ({"name": ""}, ValueError, "needs a name"),
])
def test_bad_entries_are_refused(fields: dict[str, object], error: type[Exception], match: str) -> None:
    base: dict[str, object] = {"name": "x", "address": 0, "function": "holding", "type": "uint16", "order": "ABCD"}
    with pytest.raises(error, match=match):
        Register(**(base | fields))  # type: ignore[arg-type]


def test_scale_is_normalised_to_decimal() -> None:
    assert reg("uint16", scale="0.01").scale == Decimal("0.01")
    assert reg("uint16", scale=10).scale == Decimal(10)
    assert reg("uint16").scale == Decimal(1)


def spans(blocks: list[ReadBlock]) -> list[tuple[str, int, int, list[str]]]:
    return [(b.function, b.start, b.count, [e.name for e in b.entries]) for b in blocks]


def u16(name: str, address: int, function: str = "holding") -> Register:
    return reg("uint16", address=address, function=function, name=name)


def u32(name: str, address: int, function: str = "holding") -> Register:
    return reg("uint32", address=address, function=function, name=name)


PLANS = [
    ("adjacent entries share a read", [u32("a", 0), u32("b", 2), u16("c", 4)], {},
     [("holding", 0, 5, ["a", "b", "c"])]),
    ("input order does not matter", [u16("c", 4), u32("a", 0), u32("b", 2)], {},
     [("holding", 0, 5, ["a", "b", "c"])]),
    ("a hole splits by default", [u16("a", 0), u16("b", 2)], {},
     [("holding", 0, 1, ["a"]), ("holding", 2, 1, ["b"])]),
    ("a hole of max_gap is read through", [u16("a", 0), u32("b", 3)], {"max_gap": 2},
     [("holding", 0, 5, ["a", "b"])]),
    ("a hole past max_gap splits", [u16("a", 0), u32("b", 4)], {"max_gap": 2},
     [("holding", 0, 1, ["a"]), ("holding", 4, 2, ["b"])]),
    ("tables are read separately, holding first", [u16("i", 0, "input"), u16("h", 0), u16("h2", 1)], {},
     [("holding", 0, 2, ["h", "h2"]), ("input", 0, 1, ["i"])]),
    ("overlapping views of the same words", [u32("wide", 10), u16("high", 10), u16("low", 11)], {},
     [("holding", 10, 2, ["high", "wide", "low"])]),
    ("125 registers at most, never cutting an entry", [u32(f"r{i}", 2 * i) for i in range(70)], {},
     [("holding", 0, 124, [f"r{i}" for i in range(62)]), ("holding", 124, 16, [f"r{i}" for i in range(62, 70)])]),
    ("a smaller max_count", [u16(f"r{i}", i, "input") for i in range(7)], {"max_count": 3},
     [("input", 0, 3, ["r0", "r1", "r2"]), ("input", 3, 3, ["r3", "r4", "r5"]), ("input", 6, 1, ["r6"])]),
    ("max_gap never grows a read past max_count", [u16("a", 0), u16("b", 120), u16("c", 125)], {"max_gap": 200},
     [("holding", 0, 121, ["a", "b"]), ("holding", 125, 1, ["c"])]),
    ("nothing to read", [], {}, []),
]


@pytest.mark.parametrize(("entries", "options", "expected"), [r[1:] for r in PLANS], ids=[r[0] for r in PLANS])
def test_plan_reads(entries: list[Register], options: dict[str, int], expected: list[object]) -> None:
    blocks = plan_reads(entries, **options)
    assert spans(blocks) == expected
    assert [b.function_code for b in blocks] == [3 if b.function == "holding" else 4 for b in blocks]


@pytest.mark.parametrize(("entries", "options", "match"), [
    ([u16("a", 0), u16("a", 1)], {}, "repeated: a"),
    ([u32("a", 0)], {"max_count": 1}, r"too small for holding register 0 \(a\)"),
    ([], {"max_count": 126}, "max_count must be 1..125"),
    ([], {"max_gap": -1}, "max_gap must be 0 or more"),
])
def test_plan_reads_refuses(entries: list[Register], options: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan_reads(entries, **options)


def test_decode_block_skips_the_hole_it_read_through() -> None:
    energy = reg("float32", "CDAB", address=100, function="input", name="energy", scale=1)
    volume = reg("uint32", "CDAB", address=104, function="input", name="volume", scale="0.001")
    [block] = plan_reads([volume, energy], max_gap=2)
    assert (block.start, block.count) == (100, 6)
    words = [0xE979, 0x42F6, 0xDEAD, 0xBEEF, 0xE240, 0x0001]
    assert decode_block(block, words) == {"energy": Decimal("123.456"), "volume": Decimal("123.456")}
    with pytest.raises(RemoteProtocolError, match="read of 6 input registers from 100 returned 5"):
        decode_block(block, words[:5])


def test_decode_block_names_the_bad_register() -> None:
    good = reg("bcd16", address=0, name="good")
    bad = reg("bcd16", address=1, name="meter_reading")
    [block] = plan_reads([good, bad])
    with pytest.raises(RemoteProtocolError, match=r"holding register 1 \(meter_reading\)"):
        decode_block(block, [0x0042, 0x004F])


SCALES = ["1", "0.1", "0.001", "10", "0.5"]
INT_TYPES = [name for name in TYPES if name.startswith(("int", "uint"))]
BCD_TYPES = [name for name in TYPES if name.startswith("bcd")]
ALL = [(t, o) for t in TYPES for o in ORDERS]


def _range(type_: str) -> tuple[int, int]:
    bits = 16 * TYPES[type_].words
    if type_.startswith("bcd"):
        return 0, 10 ** (bits // 4) - 1
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if type_.startswith("int") else (0, (1 << bits) - 1)


@pytest.mark.parametrize(("type_", "order"), [(t, o) for t, o in ALL if t != "float32"])
@given(data=st.data())
def test_exact_types_round_trip(type_: str, order: str, data: st.DataObject) -> None:
    entry = reg(type_, order, scale=data.draw(st.sampled_from(SCALES)))
    raw = data.draw(st.integers(*_range(type_)))
    value = raw * entry.scale
    words = encode_value(entry, value)
    assert len(words) == entry.words and all(0 <= w <= 0xFFFF for w in words)
    assert decode_value(entry, words) == value


@pytest.mark.parametrize("order", ORDERS)
@given(number=st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_values_round_trip(order: str, number: float) -> None:
    entry = reg("float32", order)
    words = encode_value(entry, Decimal(number))
    decoded = decode_value(entry, words)
    as_float32 = struct.unpack(">f", struct.pack(">f", float(decoded)))[0]  # the shortest string, read as float32
    assert as_float32 == number and math.copysign(1, as_float32) == math.copysign(1, number)
    assert encode_value(entry, decoded) == words


@pytest.mark.parametrize(("type_", "order"), ALL)
@given(data=st.data())
def test_words_round_trip(type_: str, order: str, data: st.DataObject) -> None:
    entry = reg(type_, order, scale=data.draw(st.sampled_from(SCALES)) if type_ != "float32" else 1)
    if type_ in BCD_TYPES:
        word = st.integers(0, 9999).map(lambda digits: int(f"{digits:04d}", 16))
    else:
        word = st.integers(0, 0xFFFF)
    words = data.draw(st.lists(word, min_size=entry.words, max_size=entry.words))
    try:
        value = decode_value(entry, words)
    except RemoteProtocolError:  # a float32 NaN or infinity
        reject()
    assert encode_value(entry, value) == words


def test_types_and_orders_are_the_documented_ones() -> None:
    assert set(TYPES) == {"int16", "uint16", "int32", "uint32", "float32", "bcd16", "bcd32"}
    assert INT_TYPES and BCD_TYPES
    assert ORDERS == ("ABCD", "CDAB", "BADC", "DCBA")
