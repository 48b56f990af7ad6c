"""The pure meter models answer requests with the exact bytes a meter would send."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from drivers import cjt188, dlt645
from drivers.base import LocalProtocolError
from simulators.meter_responders import Cjt188Meter, Dlt645Meter

h = bytes.fromhex
# The worked DL/T 645 example from tests/drivers/test_dlt645_codec.py: meter 000000000161, 000000.26 kWh.
ENERGY_REQUEST = h("FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16")
ENERGY_REPLY = h("68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16")


def _dlt645(answer: bytes | None) -> list[dlt645.Decoded]:
    assert answer is not None
    return dlt645.Dlt645Decoder().feed(answer)


def _energy(meter: Dlt645Meter, address: str | None = None) -> Decimal | None:
    answer = meter.respond(dlt645.encode_read_request(address or meter.address, dlt645.DI_FORWARD_ACTIVE_TOTAL))
    if answer is None:
        return None
    (reply,) = _dlt645(answer)
    assert isinstance(reply, dlt645.ReadReply) and isinstance(reply.value, Decimal)
    return reply.value


def test_dlt645_answers_the_worked_example() -> None:
    assert Dlt645Meter(energy=Decimal("0.26")).respond(ENERGY_REQUEST) == ENERGY_REPLY


def test_dlt645_answers_every_register() -> None:
    meter = Dlt645Meter(current=Decimal("-2.500"), clock=datetime(2024, 3, 15, 13, 45, 7))
    answers = {}
    for di in dlt645.REGISTERS:
        (reply,) = _dlt645(meter.respond(dlt645.encode_read_request(meter.address, di)))
        assert isinstance(reply, dlt645.ReadReply)
        answers[di] = reply.value
    assert answers == {
        dlt645.DI_COMBINED_ACTIVE_TOTAL: Decimal("0.00"), dlt645.DI_FORWARD_ACTIVE_TOTAL: Decimal("0.00"),
        dlt645.DI_VOLTAGE_A: Decimal("230.0"), dlt645.DI_CURRENT_A: Decimal("-2.500"),
        dlt645.DI_ACTIVE_POWER_TOTAL: Decimal("0.2875"), dlt645.DI_DATE: date(2024, 3, 15),
        dlt645.DI_TIME: time(13, 45, 7),
    }


def test_dlt645_counter_advances_and_rolls_over() -> None:
    meter = Dlt645Meter(energy=Decimal("999999.97"))
    meter.advance()
    assert _energy(meter) == Decimal("999999.98")
    meter.advance(3)
    assert _energy(meter) == Decimal("0.01")
    with pytest.raises(ValueError):
        meter.advance(-1)


def test_dlt645_replaced_meter_has_a_new_address_and_counter() -> None:
    meter = Dlt645Meter(energy=Decimal("1234.56"))
    meter.replace("000000000162")
    assert _energy(meter, "000000000161") is None
    assert _energy(meter) == Decimal("0.00")
    meter.replace("000000000163", energy=Decimal("17.00"))
    assert (meter.address, _energy(meter)) == ("000000000163", Decimal("17.00"))
    with pytest.raises(LocalProtocolError):
        meter.replace("0000000001AA")


def test_dlt645_addressing() -> None:
    meter = Dlt645Meter(energy=Decimal("0.26"))
    for address, answer in [(dlt645.WILDCARD, ENERGY_REPLY), ("AAAAAAAA0161", ENERGY_REPLY),
                            ("AAAAAAAA0162", None)]:
        assert meter.respond(dlt645.encode_read_request(address, dlt645.DI_FORWARD_ACTIVE_TOTAL)) == answer
    assert meter.respond(ENERGY_REPLY) is None  # another meter's answer on the bus
    assert meter.respond(b"\x00\xff garbage") is None
    assert meter.respond(ENERGY_REQUEST + ENERGY_REQUEST) == ENERGY_REPLY * 2


def test_dlt645_request_cut_across_calls() -> None:
    meter = Dlt645Meter(energy=Decimal("0.26"))
    answers = [meter.respond(ENERGY_REQUEST[i:i + 1]) for i in range(len(ENERGY_REQUEST))]
    assert answers == [None] * (len(ENERGY_REQUEST) - 1) + [ENERGY_REPLY]
    meter.silent = True
    assert meter.respond(ENERGY_REQUEST[:10]) is None
    meter.silent = False
    assert meter.respond(ENERGY_REQUEST[10:]) is None  # the meter was deaf to the first half


def test_dlt645_unknown_register_gets_an_error_answer() -> None:
    (reply,) = _dlt645(Dlt645Meter().respond(dlt645.encode_read_request("000000000161", 0x04000401)))
    assert isinstance(reply, dlt645.ErrorReply) and reply.errors == ("no_data",)


def test_dlt645_silent_and_garbled() -> None:
    meter = Dlt645Meter(energy=Decimal("0.26"), silent=True)
    assert meter.respond(ENERGY_REQUEST) is None
    meter.silent, meter.garbled = False, True
    garbled = meter.respond(ENERGY_REQUEST)
    assert garbled == ENERGY_REPLY[:-2] + h("75 16")
    assert _dlt645(garbled) == [dlt645.Rejected("bad_checksum", garbled)]
    meter.garbled, meter.preamble = False, 2
    assert meter.respond(ENERGY_REQUEST) == h("FE FE") + ENERGY_REPLY


def test_dlt645_meter_rejects_impossible_state() -> None:
    with pytest.raises(LocalProtocolError):
        Dlt645Meter(address=dlt645.WILDCARD)
    with pytest.raises(LocalProtocolError):
        Dlt645Meter(step=Decimal("0.001"))


ADDR = "78330011223344"


def _reading(meter: Cjt188Meter, **request: object) -> cjt188.Decoded | None:
    fields: dict[str, object] = {"meter_type": cjt188.COLD_WATER, "address": ADDR, "di_order": meter.di_order}
    fields |= request
    answer = meter.respond(cjt188.encode_read_request(**fields))  # type: ignore[arg-type]
    if answer is None:
        return None
    (item,) = cjt188.Cjt188Decoder(di_order=meter.di_order).feed(answer)
    return item


def test_cjt188_answers_the_published_example() -> None:
    meter = Cjt188Meter(
        address=ADDR, volume=Decimal("556677.00"), settlement=Decimal("556677.00"),
        clock=datetime(2015, 5, 11, 22, 1, 31), valve="closed", di_order="little", preamble=4)
    answer = meter.respond(h("FE FE FE FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16"))
    # The published answer carries ST 21 84; this model keeps no vendor bits, so ST is 01 00 and the sum
    # drops by (21 + 84) - (01 + 00) = A4: 13 - A4 = 6F.
    assert answer == h("FE FE FE FE 68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C "
                       "31 01 22 11 05 15 20 01 00 6F 16")


def test_cjt188_reading_fields() -> None:
    meter = Cjt188Meter(address=ADDR, volume=Decimal("12.34"), battery_low=True, clock=None)
    reading = _reading(meter, ser=9)
    assert isinstance(reading, cjt188.MeterData)
    assert (reading.ser, reading.current, reading.settlement, reading.clock) == (
        9, cjt188.Quantity(Decimal("12.34")), cjt188.Quantity(Decimal("0.00")), None)
    assert (reading.status.valve, reading.status.battery_low, reading.current.unit) == ("open", True, "m³")


def test_cjt188_counter_advances_rolls_over_and_is_replaced() -> None:
    meter = Cjt188Meter(address=ADDR, volume=Decimal("999999.99"), settlement=Decimal("5.00"))
    meter.advance()
    reading = _reading(meter)
    assert isinstance(reading, cjt188.MeterData) and reading.current.value == Decimal("0.00")
    meter.advance(150)
    meter.replace("00000000000002")
    assert _reading(meter) is None
    reading = _reading(meter, address="00000000000002")
    assert isinstance(reading, cjt188.MeterData)
    assert (reading.address, reading.current.value, reading.settlement) == (
        "00000000000002", Decimal("0.00"), cjt188.Quantity(Decimal("0.00")))


def test_cjt188_addressing_and_di_order() -> None:
    meter = Cjt188Meter(address=ADDR)
    assert isinstance(_reading(meter, meter_type=cjt188.ANY_TYPE, address=cjt188.WILDCARD), cjt188.MeterData)
    assert _reading(meter, meter_type=cjt188.HOT_WATER) is None
    assert _reading(meter, address="78330011223345") is None
    refusal = _reading(meter, di_order="little", ser=4)  # 1F 90 read high byte first: DI 1F90H, unknown
    assert isinstance(refusal, cjt188.ErrorReply) and (refusal.ser, refusal.status) == (4, cjt188.Status())


def test_cjt188_request_cut_across_calls() -> None:
    meter = Cjt188Meter(address=ADDR)
    request = cjt188.encode_read_request(cjt188.COLD_WATER, ADDR)
    assert meter.respond(request[:9]) is None
    answer = meter.respond(request[9:])
    assert answer is not None and isinstance(cjt188.Cjt188Decoder().feed(answer)[0], cjt188.MeterData)
    meter.di_order = "little"
    reading = _reading(meter)
    assert isinstance(reading, cjt188.MeterData)


def test_cjt188_silent_and_garbled() -> None:
    meter = Cjt188Meter(address=ADDR, silent=True)
    assert _reading(meter) is None
    meter.silent, meter.garbled = False, True
    reading = _reading(meter)
    assert isinstance(reading, cjt188.Rejected) and reading.reason == "bad_checksum"
    with pytest.raises(LocalProtocolError):
        Cjt188Meter(address=cjt188.WILDCARD)
