"""Byte-vector tests for the CJ/T 188-2004 codec: exact bytes in, exact frames out."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import LocalProtocolError
from drivers.cjt188 import (
    ANY_TYPE,
    COLD_WATER,
    DI_METER_DATA,
    FLOW,
    UNITS,
    WILDCARD,
    Cjt188Decoder,
    ErrorReply,
    MeterData,
    OtherFrame,
    Quantity,
    ReadRequest,
    Rejected,
    Status,
    encode_error_reply,
    encode_meter_data,
    encode_read_request,
)
from drivers.sum_frame import MAX_NOISE

ADDR = "78330011223344"
h = bytes.fromhex

# A widely published 901FH read of cold-water meter 0011223344, vendor code 7833, worked by hand. This
# meter sends the DI low byte first (1F 90), so it is read with di_order="little".
#   address 78330011223344 goes low byte first: 44 33 22 11 00 33 78
#   CS = 68+10+44+33+22+11+00+33+78 (= 0x1CD) + 01+03 + 1F+90 + 00 = 0x280 -> 80
SC_REQUEST = h("FE FE FE FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16")
# The answer: SER 00, current flow 00 77 66 55 -> 556677.00 m³ (2C), settlement flow the same, clock
# 31 01 22 11 05 15 20 -> 2015-05-11 22:01:31 (seconds first), ST 21 84: valve bits 01 = closed.
#   CS = 0x1CD + 81+16 + 1F+90+00 (= 0x313) + 00+77+66+55+2C (0x15E) twice (0x5CF)
#        + 31+01+22+11+05+15+20 (0x9F, 0x66E) + 21+84 (0x713) -> 13
#   (the blog copies of this frame print 08; the sum is 13)
SC_REPLY = h("FE FE FE FE 68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C "
             "31 01 22 11 05 15 20 21 84 13 16")
SC_DATA = MeterData(COLD_WATER, ADDR, 0, Quantity(Decimal("556677.00")), Quantity(Decimal("556677.00")),
                    datetime(2015, 5, 11, 22, 1, 31), Status(0x8421), SC_REPLY[4:])

# The same read with the DI high byte first (di_order="big", the default): the sum does not change.
REQUEST = h("FE FE FE FE 68 10 44 33 22 11 00 33 78 01 03 90 1F 00 80 16")
ANSWER = "68 10 44 33 22 11 00 33 78 81 16 90 1F "  # 81H, L = 22, DI 901F; SER follows
READING = h(ANSWER + "05 34 12 00 00 2C 00 10 00 00 2C 07 45 13 15 03 24 20 04 00 85 16")
DATA = MeterData(COLD_WATER, ADDR, 5, Quantity(Decimal("12.34")), Quantity(Decimal("10.00")),
                 datetime(2024, 3, 15, 13, 45, 7), Status(0x0004), READING)
NO_CLOCK = h(ANSWER + "00 59 00 00 00 2C 00 00 00 00 2C 00 00 00 00 00 00 00 00 00 C4 16")
NO_SETTLEMENT = h(ANSWER + "00 34 12 00 00 2C FF FF FF FF 2C FF FF FF FF FF FF FF 00 00 A6 16")
BAD_UNIT = h(ANSWER + "00 34 12 00 00 2D 00 10 00 00 2C 00 00 00 00 00 00 00 00 00 C2 16")
NOT_BCD = h(ANSWER + "00 3A 12 00 00 2C 00 10 00 00 2C 00 00 00 00 00 00 00 00 00 C7 16")
SHORT = h("68 10 44 33 22 11 00 33 78 81 05 90 1F 00 34 12 48 16")
HISTORY = h("68 10 44 33 22 11 00 33 78 81 08 D1 20 01 34 12 00 00 2C BA 16")  # D120H: not modelled
# Error reply C1H: SER 03, ST 03 00 (valve abnormal); CS = 0x1CD + C1+03 + 03+03+00 = 0x297 -> 97
ERROR = h("68 10 44 33 22 11 00 33 78 C1 03 03 03 00 97 16")
REFUSAL = ErrorReply(COLD_WATER, ADDR, 3, Status(0x0003), ERROR)
ERROR_SHORT = h("68 10 44 33 22 11 00 33 78 C1 02 00 01 91 16")
BAD_ADDR = h("68 10 44 33 22 11 0A 33 78 01 03 90 1F 00 8A 16")
WILD = h("FE FE 68 AA AA AA AA AA AA AA AA 01 03 90 1F 07 72 16")

ROWS = [
    ("request", REQUEST, [ReadRequest(COLD_WATER, ADDR, DI_METER_DATA, 0, REQUEST[4:])]),
    ("wildcard request", WILD, [ReadRequest(ANY_TYPE, WILDCARD, DI_METER_DATA, 7, WILD[2:])]),
    ("meter data", READING, [DATA]),
    ("clockless meter sends zeros", NO_CLOCK,
     [MeterData(COLD_WATER, ADDR, 0, Quantity(Decimal("0.59")), Quantity(Decimal(0)), None, Status(),
                NO_CLOCK)]),
    ("no settlement reading", NO_SETTLEMENT,
     [MeterData(COLD_WATER, ADDR, 0, Quantity(Decimal("12.34")), None, None, Status(), NO_SETTLEMENT)]),
    ("error reply", ERROR, [REFUSAL]),
    ("error reply too short", ERROR_SHORT, [Rejected("bad_length", ERROR_SHORT)]),
    ("other DI", HISTORY, [OtherFrame(COLD_WATER, ADDR, 0x81, h("D1 20 01 34 12 00 00 2C"), HISTORY)]),
    ("unknown unit", BAD_UNIT, [Rejected("bad_unit", BAD_UNIT)]),
    ("flow not BCD", NOT_BCD, [Rejected("bad_value", NOT_BCD)]),
    ("901F answer too short", SHORT, [Rejected("bad_length", SHORT)]),
    ("address not BCD", BAD_ADDR, [Rejected("bad_address", BAD_ADDR)]),
    ("bad checksum", READING[:-2] + h("86 16"), [Rejected("bad_checksum", READING[:-2] + h("86 16"))]),
    ("too many wake-up bytes", h("FE") * 18 + READING, [Rejected("noise", h("FE FE")), DATA]),
    ("noise, with a stray 68 that claims L = 81H", h("00 16 68") + READING + h("FF") + ERROR,
     [Rejected("noise", h("00 16 68")), DATA, Rejected("noise", h("FF")), REFUSAL]),
    ("truncated frame is noise", READING[:20] + READING, [Rejected("noise", READING[:20]), DATA]),
    ("pending noise waits for its end", READING + h("00"), [DATA]),
    ("partial frame waits", READING[:30], []),
]


@pytest.mark.parametrize(("data", "expected"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_vectors(data: bytes, expected: list[object]) -> None:
    assert Cjt188Decoder().feed(data) == expected


def test_published_example_low_byte_first() -> None:
    decoder = Cjt188Decoder(di_order="little")
    assert decoder.feed(SC_REQUEST) == [ReadRequest(COLD_WATER, ADDR, DI_METER_DATA, 0, SC_REQUEST[4:])]
    (reading,) = decoder.feed(SC_REPLY)
    assert reading == SC_DATA
    assert (reading.current.unit, reading.status.valve, reading.status.battery_low) == ("m³", "closed", False)
    assert encode_read_request(COLD_WATER, ADDR, di_order="little") == SC_REQUEST


def test_di_order_must_match_the_meter() -> None:
    assert Cjt188Decoder(di_order="big").feed(SC_REQUEST)[0].di == 0x1F90
    (other,) = Cjt188Decoder(di_order="big").feed(SC_REPLY)
    assert isinstance(other, OtherFrame)
    with pytest.raises(ValueError):
        Cjt188Decoder(di_order="middle")  # type: ignore[arg-type]


def test_status_bits() -> None:
    assert Status.of("closed", battery_low=True, vendor=0x84) == Status(0x8405)
    assert [Status(bits).valve for bits in range(4)] == ["open", "closed", "reserved", "abnormal"]
    assert Status(0x8421).to_wire() == h("21 84")
    with pytest.raises(LocalProtocolError):
        Status.of("ajar")  # type: ignore[arg-type]


def test_byte_by_byte_equals_whole() -> None:
    stream = b"".join(row[1] for row in ROWS)
    whole = Cjt188Decoder().feed(stream)
    decoder = Cjt188Decoder()
    assert [item for i in range(len(stream)) for item in decoder.feed(stream[i:i + 1])] == whole
    assert len(whole) >= len(ROWS)


def test_encoders_vectors() -> None:
    assert encode_read_request(COLD_WATER, ADDR) == REQUEST
    assert encode_read_request(ANY_TYPE, WILDCARD.lower(), ser=7, preamble=2) == WILD
    assert encode_meter_data(
        COLD_WATER, ADDR, ser=5, current=Quantity(Decimal("12.34")), settlement=Quantity(Decimal(10)),
        clock=datetime(2024, 3, 15, 13, 45, 7), status=Status.of(battery_low=True)) == READING
    assert encode_meter_data(
        COLD_WATER, ADDR, ser=0, current=Quantity(Decimal("0.59")), settlement=Quantity(Decimal(0)), clock=None,
    ) == NO_CLOCK
    assert encode_error_reply(COLD_WATER, ADDR, ser=3, status=Status.of("abnormal")) == ERROR


def _reading(**changes: object) -> bytes:
    fields: dict[str, object] = {"ser": 0, "current": Quantity(Decimal(1)), "settlement": Quantity(Decimal(1)),
                                 "clock": None} | changes
    return encode_meter_data(COLD_WATER, ADDR, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("call", [
    lambda: encode_read_request(COLD_WATER, "7833001122334"),
    lambda: encode_read_request(COLD_WATER, "78330011A23344"),
    lambda: encode_read_request(256, ADDR),
    lambda: encode_read_request(COLD_WATER, ADDR, ser=256),
    lambda: encode_read_request(COLD_WATER, ADDR, di=0x10000),
    lambda: encode_read_request(COLD_WATER, ADDR, preamble=5),
    lambda: _reading(current=Quantity(Decimal("1000000.00"))),
    lambda: _reading(current=Quantity(Decimal("-0.01"))),
    lambda: _reading(current=Quantity(Decimal("0.001"))),
    lambda: _reading(current=Quantity(Decimal("Infinity"))),
    lambda: _reading(settlement=Quantity(Decimal(1), 0x99)),
])
def test_encoders_reject(call) -> None:
    with pytest.raises(LocalProtocolError):
        call()


def test_noise_stays_bounded() -> None:
    decoder = Cjt188Decoder()
    out = []
    for _ in range(100):
        out += decoder.feed(b"\x55" * 1000)
        assert decoder.buffered < MAX_NOISE
    assert out == [Rejected("noise", b"\x55" * MAX_NOISE)] * (100_000 // MAX_NOISE)
    assert decoder.feed(READING) == [Rejected("noise", b"\x55" * (100_000 % MAX_NOISE)), DATA]
    decoder = Cjt188Decoder()
    decoder.feed(h("68 10 44 33 22 11 00 33 78 81 FF") + b"\x00" * 5000)  # L = 255 and no end in sight
    assert decoder.buffered < 2 * MAX_NOISE


addresses = st.text(alphabet="0123456789", min_size=14, max_size=14)
flows = st.integers(0, 99_999_999).map(lambda n: Decimal(n).scaleb(-2))
clocks = st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
    lambda t: t.replace(microsecond=0))
readings = st.builds(
    dict, meter_type=st.integers(0, 255), address=addresses, ser=st.integers(0, 255),
    current=st.builds(Quantity, flows, st.sampled_from(sorted(UNITS))),
    settlement=st.builds(Quantity, flows, st.sampled_from(sorted(UNITS))),
    clock=clocks, status=st.integers(0, 0xFFFF).map(Status), preamble=st.integers(0, 4))


def _chunks(data: st.DataObject, stream: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@given(st.lists(readings, max_size=5), st.sampled_from(["big", "little"]), st.data())
def test_meter_data_round_trip(fields: list[dict], order: str, data: st.DataObject) -> None:
    """Property: encoded 901FH answers, cut anywhere, decode to the same fields."""
    stream = b"".join(encode_meter_data(f.pop("meter_type"), f.pop("address"), di_order=order, **f) for f in
                      [dict(f) for f in fields])
    decoder = Cjt188Decoder(di_order=order)
    out = [item for chunk in _chunks(data, stream) for item in decoder.feed(chunk)]
    assert [(m.meter_type, m.address, m.ser, m.current, m.settlement, m.clock, m.status) for m in out] == [
        (f["meter_type"], f["address"], f["ser"], f["current"], f["settlement"], f["clock"], f["status"])
        for f in fields]


@given(st.integers(0, 99_999_999))
def test_flow_field_round_trip(hundredths: int) -> None:
    value = Decimal(hundredths).scaleb(-2)
    assert FLOW.decode(FLOW.encode(value)) == value


@given(st.binary(max_size=600), st.lists(st.sampled_from([READING, REQUEST, ERROR, h("FE FE 68")]), max_size=3),
       st.data())
def test_arbitrary_bytes_never_raise(noise: bytes, frames: list[bytes], data: st.DataObject) -> None:
    """Property: any bytes give only frames or Rejected, the same however they are cut."""
    stream = noise[:len(noise) // 2] + b"".join(frames) + noise[len(noise) // 2:]
    decoder = Cjt188Decoder()
    out = [item for chunk in _chunks(data, stream) for item in decoder.feed(chunk)]
    assert out == Cjt188Decoder().feed(stream)
    assert all(isinstance(item, ReadRequest | MeterData | ErrorReply | OtherFrame | Rejected) for item in out)
    assert decoder.buffered < 2 * MAX_NOISE + 16
