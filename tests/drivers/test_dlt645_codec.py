"""Byte-vector tests for the DL/T 645-2007 codec: exact bytes in, exact frames out."""
from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import LocalProtocolError
from drivers.dlt645 import (
    DI_ACTIVE_POWER_TOTAL,
    DI_COMBINED_ACTIVE_TOTAL,
    DI_CURRENT_A,
    DI_DATE,
    DI_FORWARD_ACTIVE_TOTAL,
    DI_TIME,
    DI_VOLTAGE_A,
    REGISTERS,
    WILDCARD,
    Bcd33,
    Date33,
    Dlt645Decoder,
    ErrorReply,
    OtherFrame,
    ReadReply,
    ReadRequest,
    Rejected,
    Time33,
    encode_error_reply,
    encode_read_reply,
    encode_read_request,
)
from drivers.sum_frame import MAX_NOISE

ADDR = "000000000161"
h = bytes.fromhex

# Reading (current) forward active total energy, DI 00 01 00 00, from meter 000000000161, worked by hand:
#   the address goes low byte first: 61 01 00 00 00 00; the DI too: 00 00 01 00, each byte +33H: 33 33 34 33
#   CS = 68+61+01+00+00+00+00+68+11+04+33+33+34+33 = 0x214 -> 14
REQUEST = h("FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16")
# The meter answers 000000.26 kWh: BCD 00 00 00 26, low byte first 26 00 00 00, +33H: 59 33 33 33
#   CS = (68+61+01+68+91+08 = 0x1CB) + (33+33+34+33 = 0xCD) + (59+33+33+33 = 0xF2) = 0x38A -> 8A
REPLY = h("68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16")
ENERGY = ReadReply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("0.26"), h("26 00 00 00"), False, REPLY)
# Phase A voltage, DI 02 01 01 00 (+33H: 33 34 34 35): 34 43 -33H = 01 10, low byte first: 100.1 V
#   CS = (0x1CB - 08 + 06 = 0x1C9) + (33+34+34+35 = 0xD0) + (34+43 = 0x77) = 0x310 -> 10
VOLTAGE = h("68 61 01 00 00 00 00 68 91 06 33 34 34 35 34 43 10 16")
VOLTS = ReadReply(ADDR, DI_VOLTAGE_A, Decimal("100.1"), h("01 10"), False, VOLTAGE)
# Phase A current -1.234 A: 00 12 34 with the sign bit 80 12 34, low byte first 34 12 80, +33H: 67 45 B3
#   CS = (0x1C9 + 01 = 0x1CA) + (33+34+35+35 = 0xD1) + (67+45+B3 = 0x15F) = 0x3FA -> FA
CURRENT = h("68 61 01 00 00 00 00 68 91 07 33 34 35 35 67 45 B3 FA 16")
POWER = h("68 61 01 00 00 00 00 68 91 07 33 33 36 35 A8 5B 33 D1 16")  # +0.2875 kW: 00 28 75
COMBINED = h("68 61 01 00 00 00 00 68 91 08 33 33 33 33 67 45 33 B3 29 16")  # -12.34 kWh: 80 00 12 34
DATE = h("68 61 01 00 00 00 00 68 91 08 34 34 33 37 38 48 36 57 AA 16")  # 24-03-15, weekday 05 (Friday)
TIME = h("68 61 01 00 00 00 00 68 91 07 35 34 33 37 3A 78 46 95 16")  # 13:45:07
FOLLOW = h("68 61 01 00 00 00 00 68 B1 08 33 33 34 33 AB 89 67 45 98 16")  # 123456.78 kWh, more to come
# Error reply: D1H, one byte 02 (no requested data) +33H = 35; CS = 68+61+01+68+D1+01+35 = 0x239 -> 39
NO_DATA = h("68 61 01 00 00 00 00 68 D1 01 35 39 16")
REFUSED = h("68 61 01 00 00 00 00 68 D1 01 38 3C 16")  # 05: other + unauthorized
WILD = h("68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16")
UNKNOWN_DI = h("68 61 01 00 00 00 00 68 91 06 33 33 33 37 34 35 02 16")  # 04 00 00 00 -> payload 01 02
READ_ADDRESS = h("68 61 01 00 00 00 00 68 93 06 94 34 33 33 33 33 5F 16")  # 93H: not modelled
NOT_BCD = h("68 61 01 00 00 00 00 68 91 06 33 34 34 35 3D 43 19 16")  # 3D -33H = 0A: not a digit
SHORT = h("68 61 01 00 00 00 00 68 91 05 33 34 34 35 34 CC 16")  # voltage with one value byte
# Meter 680000000000: its address byte A5 is 68H, so a stray 68H just before the frame has a second 68H
# seven bytes on and reads the control byte 91H as a length of 145.
SIXTY_EIGHT = h("68 00 00 00 00 00 68 68 91 08 33 33 34 33 59 33 33 33 90 16")
NO_DI = h("68 61 01 00 00 00 00 68 91 00 C3 16")
BAD_ADDR = h("68 6A 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 93 16")  # 6A is no BCD byte

ROWS = [
    ("request with wake-up bytes", REQUEST, [ReadRequest(ADDR, DI_FORWARD_ACTIVE_TOTAL, REQUEST[4:])]),
    ("wildcard request", WILD, [ReadRequest(WILDCARD, DI_FORWARD_ACTIVE_TOTAL, WILD)]),
    ("energy reply", REPLY, [ENERGY]),
    ("voltage", VOLTAGE, [VOLTS]),
    ("negative current", CURRENT,
     [ReadReply(ADDR, DI_CURRENT_A, Decimal("-1.234"), h("34 12 80"), False, CURRENT)]),
    ("power", POWER, [ReadReply(ADDR, DI_ACTIVE_POWER_TOTAL, Decimal("0.2875"), h("75 28 00"), False, POWER)]),
    ("negative combined energy", COMBINED,
     [ReadReply(ADDR, DI_COMBINED_ACTIVE_TOTAL, Decimal("-12.34"), h("34 12 00 80"), False, COMBINED)]),
    ("date", DATE, [ReadReply(ADDR, DI_DATE, date(2024, 3, 15), h("05 15 03 24"), False, DATE)]),
    ("time", TIME, [ReadReply(ADDR, DI_TIME, time(13, 45, 7), h("07 45 13"), False, TIME)]),
    ("follow-up flag", FOLLOW,
     [ReadReply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("123456.78"), h("78 56 34 12"), True, FOLLOW)]),
    ("error: no data", NO_DATA, [ErrorReply(ADDR, 0x02, NO_DATA)]),
    ("error: two flags", REFUSED, [ErrorReply(ADDR, 0x05, REFUSED)]),
    ("unknown DI keeps its payload", UNKNOWN_DI,
     [ReadReply(ADDR, 0x04000000, None, h("01 02"), False, UNKNOWN_DI)]),
    ("other function", READ_ADDRESS, [OtherFrame(ADDR, 0x93, h("61 01 00 00 00 00"), READ_ADDRESS)]),
    ("bad checksum", REPLY[:-2] + h("8B 16"), [Rejected("bad_checksum", REPLY[:-2] + h("8B 16"))]),
    ("value not BCD", NOT_BCD, [Rejected("bad_value", NOT_BCD)]),
    ("value too short for its DI", SHORT, [Rejected("bad_value", SHORT)]),
    ("address not BCD", BAD_ADDR, [Rejected("bad_address", BAD_ADDR)]),
    ("reply without DI", NO_DI, [Rejected("bad_length", NO_DI)]),
    ("wake-up bytes before a reply", h("FE FE") + REPLY, [ENERGY]),
    ("too many wake-up bytes", h("FE") * 20 + REPLY, [Rejected("noise", h("FE") * 4), ENERGY]),
    ("noise before", h("00 13 FF") + REPLY, [Rejected("noise", h("00 13 FF")), ENERGY]),
    ("noise between", REPLY + h("55 68 68") + NO_DATA,
     [ENERGY, Rejected("noise", h("55 68 68")), ErrorReply(ADDR, 0x02, NO_DATA)]),
    ("truncated frame is noise, next frame survives", REPLY[:12] + REPLY, [Rejected("noise", REPLY[:12]), ENERGY]),
    ("68 in noise does not swallow the frame", h("68 01 02") + REPLY, [Rejected("noise", h("68 01 02")), ENERGY]),
    ("stray 68 does not hold back a whole answer", h("68") + SIXTY_EIGHT,
     [Rejected("noise", h("68")), ReadReply("680000000000", DI_FORWARD_ACTIVE_TOTAL, Decimal("0.26"),
                                            h("26 00 00 00"), False, SIXTY_EIGHT)]),
    ("two frames", REPLY + VOLTAGE, [ENERGY, VOLTS]),
    ("pending noise waits for its end", REPLY + h("00 01"), [ENERGY]),
    ("partial frame waits", REPLY[:15], []),
]


@pytest.mark.parametrize(("data", "expected"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_vectors(data: bytes, expected: list[object]) -> None:
    assert Dlt645Decoder().feed(data) == expected


def test_error_names() -> None:
    assert ErrorReply(ADDR, 0x02, b"").errors == ("no_data",)
    assert ErrorReply(ADDR, 0x7F, b"").errors == (
        "other", "no_data", "unauthorized", "rate_unchangeable", "year_zones_exceeded", "day_slots_exceeded",
        "tariffs_exceeded")
    assert ErrorReply(ADDR, 0x80, b"").errors == ()


def test_byte_by_byte_equals_whole() -> None:
    stream = b"".join(row[1] for row in ROWS)
    whole = Dlt645Decoder().feed(stream)
    decoder = Dlt645Decoder()
    assert [item for i in range(len(stream)) for item in decoder.feed(stream[i:i + 1])] == whole
    assert len(whole) >= len(ROWS)


def test_encoders_vectors() -> None:
    assert encode_read_request(ADDR, DI_FORWARD_ACTIVE_TOTAL) == REQUEST
    assert encode_read_request(ADDR, DI_FORWARD_ACTIVE_TOTAL, preamble=0) == REQUEST[4:]
    assert encode_read_request("aaaaaaaaaaaa", DI_FORWARD_ACTIVE_TOTAL, preamble=0) == WILD
    assert encode_read_request("AAAAAAAA0161", DI_VOLTAGE_A, preamble=2) == h(
        "FE FE 68 61 01 AA AA AA AA 68 11 04 33 34 34 35 BF 16")
    assert encode_read_reply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("0.26")) == REPLY
    assert encode_read_reply(ADDR, DI_CURRENT_A, Decimal("-1.234")) == CURRENT
    assert encode_read_reply(ADDR, DI_DATE, date(2024, 3, 15)) == DATE
    assert encode_read_reply(ADDR, DI_TIME, time(13, 45, 7)) == TIME
    assert encode_read_reply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("123456.78"), follow_up=True) == FOLLOW
    assert encode_error_reply(ADDR, ["no_data"]) == NO_DATA
    assert encode_error_reply(ADDR, ["unauthorized", "other"]) == REFUSED


@pytest.mark.parametrize("call", [
    lambda: encode_read_request("00000000016", DI_VOLTAGE_A),
    lambda: encode_read_request("00000000016X", DI_VOLTAGE_A),
    lambda: encode_read_request("0000000001A1", DI_VOLTAGE_A),
    lambda: encode_read_request("٠٠٠٠٠٠٠٠٠١٦١", DI_VOLTAGE_A),
    lambda: encode_read_request(ADDR, 1 << 32),
    lambda: encode_read_request(ADDR, -1),
    lambda: encode_read_request(ADDR, DI_VOLTAGE_A, preamble=5),
    lambda: encode_read_reply(ADDR, 0x04000000, Decimal(1)),
    lambda: encode_read_reply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("1000000.00")),
    lambda: encode_read_reply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("-1")),
    lambda: encode_read_reply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("0.001")),
    lambda: encode_read_reply(ADDR, DI_FORWARD_ACTIVE_TOTAL, Decimal("NaN")),
    lambda: encode_read_reply(ADDR, DI_CURRENT_A, Decimal("800.000")),
    lambda: encode_read_reply(ADDR, DI_DATE, date(1999, 12, 31)),
    lambda: encode_read_reply(ADDR, DI_DATE, "2024-03-15"),
    lambda: encode_read_reply(ADDR, DI_TIME, Decimal(1)),
    lambda: encode_error_reply(ADDR, ["bad_luck"]),
])
def test_encoders_reject(call) -> None:
    with pytest.raises(LocalProtocolError):
        call()


def test_bcd33_field() -> None:
    assert Bcd33(4, 2).capacity == Decimal("1000000")
    assert Bcd33(3, 3, signed=True).capacity == Decimal("800")
    assert Bcd33(2, 1).decode(h("34 43")) == Decimal("100.1")
    assert Bcd33(2, 1).encode(Decimal("100.1")) == h("34 43")
    assert Bcd33(3, 4, signed=True).decode(h("33 33 B3")) == 0  # a negative zero is zero
    with pytest.raises(ValueError):
        Bcd33(2, 1).decode(h("34"))


def test_noise_stays_bounded() -> None:
    decoder = Dlt645Decoder()
    out = []
    for _ in range(100):
        out += decoder.feed(b"\x55" * 1000)
        assert decoder.buffered < MAX_NOISE
    assert out == [Rejected("noise", b"\x55" * MAX_NOISE)] * (100_000 // MAX_NOISE)
    assert decoder.feed(REPLY) == [Rejected("noise", b"\x55" * (100_000 % MAX_NOISE)), ENERGY]


def test_wake_up_flood_and_long_frames_stay_bounded() -> None:
    decoder = Dlt645Decoder()
    decoder.feed(b"\xfe" * 10_000)
    assert decoder.buffered < MAX_NOISE + 16
    decoder = Dlt645Decoder()
    decoder.feed(h("68 61 01 00 00 00 00 68 91 C8") + b"\x33" * 5000)  # L = 200 and no end in sight
    assert decoder.buffered < 2 * MAX_NOISE


def _values(register_di: int) -> st.SearchStrategy[object]:
    wire = REGISTERS[register_di].wire
    if isinstance(wire, Date33):
        return st.dates(date(2000, 1, 1), date(2099, 12, 31))
    if isinstance(wire, Time33):
        return st.times().map(lambda t: t.replace(microsecond=0))
    assert isinstance(wire, Bcd33)
    limit = int(wire.capacity.scaleb(wire.decimals)) - 1
    return st.integers(-limit if wire.signed else 0, limit).map(lambda n: Decimal(n).scaleb(-wire.decimals))


addresses = st.text(alphabet="0123456789", min_size=12, max_size=12)
readings = st.sampled_from(sorted(REGISTERS)).flatmap(lambda di: st.tuples(st.just(di), _values(di)))


def _chunks(data: st.DataObject, stream: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@given(st.lists(st.tuples(addresses, readings, st.integers(0, 4), st.booleans()), max_size=5), st.data())
def test_reply_round_trip(replies, data: st.DataObject) -> None:
    """Property: encoded answers, cut anywhere, decode to the same address, DI and value."""
    stream = b"".join(
        encode_read_reply(addr, di, value, follow_up=more, preamble=pre)
        for addr, (di, value), pre, more in replies)
    decoder = Dlt645Decoder()
    out = [item for chunk in _chunks(data, stream) for item in decoder.feed(chunk)]
    assert [(r.address, r.di, r.value, r.follow_up) for r in out if isinstance(r, ReadReply)] == [
        (addr, di, value, more) for addr, (di, value), _, more in replies]
    assert len(out) == len(replies)


@given(st.text(alphabet="0123456789A", min_size=12, max_size=12), st.integers(0, 0xFFFF_FFFF))
def test_request_round_trip(raw_address: str, di: int) -> None:
    address = "".join("AA" if "A" in raw_address[i:i + 2] else raw_address[i:i + 2] for i in range(0, 12, 2))
    (request,) = Dlt645Decoder().feed(encode_read_request(address, di))
    assert request == ReadRequest(address, di, encode_read_request(address, di, preamble=0))


@given(st.binary(max_size=600), st.lists(st.sampled_from([REPLY, REQUEST, NO_DATA, h("FE FE 68")]), max_size=3),
       st.data())
def test_arbitrary_bytes_never_raise(noise: bytes, frames: list[bytes], data: st.DataObject) -> None:
    """Property: any bytes give only frames or Rejected, the same however they are cut."""
    stream = noise[:len(noise) // 2] + b"".join(frames) + noise[len(noise) // 2:]
    decoder = Dlt645Decoder()
    out = [item for chunk in _chunks(data, stream) for item in decoder.feed(chunk)]
    assert out == Dlt645Decoder().feed(stream)
    assert all(isinstance(item, ReadRequest | ReadReply | ErrorReply | OtherFrame | Rejected) for item in out)
    assert decoder.buffered < 2 * MAX_NOISE + 16
