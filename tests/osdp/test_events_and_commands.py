"""Decoding libosdp's event dicts and building its command dicts: tables of (input, exact result) rows."""
from __future__ import annotations

from typing import Any

import pytest
from osdp import CardFormat, Command, CommandLEDColor, Event, EventNotification, StatusReportType

from drivers.base import LocalProtocolError
from drivers.osdp.commands import FEEDBACK, buzzer_command, led_command, output_command
from drivers.osdp.events import (
    CardRead,
    CommandDone,
    Ignored,
    KeypadInput,
    LinkChange,
    LocalStatus,
    Rejected,
    SecureChannelChange,
    decode_event,
)
from drivers.wiegand import encode_bits

W26 = (encode_bits(18, 12345, 26) << 6).to_bytes(4, "big")  # 09 18 1C C0, the bits packed from the top
W34 = (encode_bits(1001, 54321, 34) << 6).to_bytes(5, "big")


def card(fmt: int, data: bytes, length: int | None, direction: int = 0) -> dict[str, Any]:
    event = {"event": Event.CardRead, "reader_no": 0, "format": fmt, "direction": direction, "data": data}
    if length is not None:
        event["length"] = length
    return event


def note(kind: int, arg0: int, arg1: int = 0) -> dict[str, Any]:
    return {"event": Event.Notification, "type": kind, "arg0": arg0, "arg1": arg1}


@pytest.mark.parametrize(("event", "expected"), [
    (card(CardFormat.Wiegand, W26, 26), CardRead("0001191993", "wiegand", 26, 0, 18, 12345)),
    (card(CardFormat.Wiegand, W34, 34), CardRead("0065655857", "wiegand", 34, 0, 1001, 54321)),
    (card(CardFormat.Wiegand, bytes.fromhex("09181C80"), 26), Rejected("bad_parity", bytes.fromhex("09181C80"))),
    (card(CardFormat.Wiegand, bytes.fromhex("123456789E"), 37), CardRead(str(0x123456789E >> 3), "wiegand", 37)),
    (card(CardFormat.Unspecified, bytes.fromhex("DEADBEEF"), 32), CardRead("DEADBEEF", "raw", 32)),
    (card(CardFormat.Unspecified, bytes.fromhex("ABC0"), 12), CardRead("ABC", "raw", 12)),
    (card(CardFormat.Unspecified, bytes.fromhex("80"), 4, direction=1), CardRead("1", "raw", 4)),
    (card(CardFormat.ASCII, b"04A1", None), CardRead("30344131", "ascii", 32)),
    (card(CardFormat.Wiegand, W26, 40), Rejected("bad_length", W26)),
    (card(CardFormat.Wiegand, b"", 0), Rejected("bad_length", b"")),
    (card(9, W26, 26), Rejected("bad_format", W26)),
    ({"event": Event.KeyPress, "reader_no": 0, "data": b"12\x7f\x0d"}, KeypadInput("12*#")),
    ({"event": Event.KeyPress, "reader_no": 1, "data": b"1A"}, Rejected("bad_keys", b"1A")),
    ({"event": Event.Status, "type": StatusReportType.Local, "report": b"\x01\x00"}, LocalStatus(True, False)),
    ({"event": Event.Status, "type": StatusReportType.Local, "report": b"\x00\x01"}, LocalStatus(False, True)),
    ({"event": Event.Status, "type": StatusReportType.Local, "report": b"\x01"}, Rejected("bad_length", b"\x01")),
    ({"event": Event.Status, "type": StatusReportType.Input, "report": b"\x01"},
     Ignored(Event.Status, StatusReportType.Input)),
    (note(EventNotification.PeripheralDeviceStatus, 1), LinkChange(True)),
    (note(EventNotification.PeripheralDeviceStatus, 0), LinkChange(False)),
    (note(EventNotification.SecureChannelStatus, 1, 1), SecureChannelChange(True, True)),
    (note(EventNotification.Command, Command.Keyset, 1), CommandDone("keyset", True)),
    (note(EventNotification.Command, Command.Output, 0), CommandDone("output", False)),
    ({"event": Event.ManufacturerReply, "vendor_code": 1}, Ignored(Event.ManufacturerReply, None)),
])
def test_decode_event(event: dict[str, Any], expected: object) -> None:
    assert decode_event(event) == expected


def test_feedback_patterns() -> None:
    assert led_command(FEEDBACK[True]) == {
        "command": Command.LED, "reader": 0, "led_number": 0, "temporary": True, "control_code": 2,
        "on_color": CommandLEDColor.Green, "off_color": CommandLEDColor.Green, "on_count": 30, "off_count": 0,
        "timer_count": 30}
    assert led_command(FEEDBACK[False])["on_color"] == CommandLEDColor.Red
    assert buzzer_command(FEEDBACK[True]) == {
        "command": Command.Buzzer, "reader": 0, "control_code": 2, "on_count": 2, "off_count": 1, "rep_count": 1}
    assert buzzer_command(FEEDBACK[False])["rep_count"] == 3
    assert all(pattern.beeps > 0 for pattern in FEEDBACK.values())  # 0 would sound until told to stop


@pytest.mark.parametrize(("output_no", "on_ms", "expected"), [
    (0, 1500, {"command": Command.Output, "output_no": 0, "control_code": 5, "timer_count": 15}),
    (1, 1, {"command": Command.Output, "output_no": 1, "control_code": 5, "timer_count": 1}),
    (1, 0, {"command": Command.Output, "output_no": 1, "control_code": 1, "timer_count": 0}),
])
def test_output_command(output_no: int, on_ms: int, expected: dict[str, int]) -> None:
    assert output_command(output_no, on_ms) == expected


@pytest.mark.parametrize(("output_no", "on_ms"), [(-1, 100), (256, 100), (0, -5), (0, 6_553_501)])
def test_output_command_refuses_what_osdp_cannot_carry(output_no: int, on_ms: int) -> None:
    with pytest.raises(LocalProtocolError):
        output_command(output_no, on_ms)
