"""How a Modbus RTU read's answer is judged from the bytes an RS-485 adapter delivers, without a line.

Byte vectors: unit 1 reads 2 holding registers from 0 (01 03 00 00 00 02, CRC C4 0B); the meter answers
0x00003039 (01 03 04 00 00 30 39, CRC 2E 21).
"""
from __future__ import annotations

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from drivers.meter_bus import GarbledReply, MeterRefused, MeterSilent
from drivers.meter_bus.modbus_reader import _Answer
from drivers.modbus_meter import Register, plan_reads

h = bytes.fromhex
REQUEST = h("01 03 00 00 00 02 C4 0B")
REPLY = h("01 03 04 00 00 30 39 2E 21")
EXCEPTION = h("01 83 02 C0 F1")  # illegal data address
OTHER_UNIT = h("02 03 04 00 00 00 01 08 F3")
(BLOCK,) = plan_reads([Register(name="energy", address=0, function="holding", type="uint32", order="ABCD")])


def answer() -> _Answer:
    return _Answer(FramerRTU(DecodePDU(is_server=False)), 1, 0, BLOCK, request=REQUEST)


def fed(chunks: list[bytes]) -> list[int] | None:
    judge = answer()
    for chunk in chunks:
        if (result := judge.feed(chunk)) is not None:
            return result
    return None


@pytest.mark.parametrize("chunks", [
    [REPLY],
    [bytes([b]) for b in REPLY],
    [REQUEST, REPLY],  # an adapter that hears its own transmission (RE tied low) echoes the request
    [REQUEST + REPLY],
    [bytes([b]) for b in REQUEST + REPLY],
    [h("00"), REPLY],  # a glitch byte as the transceivers turn the line round: no reply starts with 00 or FF
    [h("FF") + REPLY],
    [REQUEST + h("00") + REPLY],
    [h("FF") + REQUEST + REPLY],
    [OTHER_UNIT + REPLY],
], ids=["reply", "byte by byte", "echo then reply", "echo and reply together", "echo and reply byte by byte",
        "00 before the reply", "FF before the reply", "echo, glitch, reply", "glitch, echo, reply",
        "another unit's reply first"])
def test_the_reply_is_found(chunks: list[bytes]) -> None:
    assert fed(chunks) == [0, 0x3039]


def test_an_echo_alone_is_not_an_answer_yet() -> None:
    judge = answer()
    assert judge.feed(REQUEST) is None
    assert isinstance(judge.expired(), MeterSilent)  # the echo is not a truncated reply


def test_a_refusal_after_the_echo_is_a_refusal() -> None:
    with pytest.raises(MeterRefused, match="illegal_address"):
        fed([REQUEST + EXCEPTION])


def test_a_reply_with_a_bad_crc_is_garbled() -> None:
    with pytest.raises(GarbledReply):
        fed([REPLY[:-1] + h("22")])
