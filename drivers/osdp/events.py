"""Sans-I/O decoding of the event dicts libosdp's control panel hands its callback into typed, frozen records.

libosdp (3.2) reports, per PD, dicts keyed by "event": card reads ("format", "length" in bits for the raw
formats, "data" packed from the top bit of the first byte, "direction", "reader_no"), keypad input ("data",
one byte a key), status reports ("type", "report": for the local report one byte of tamper, one of power)
and its own notifications ("type", "arg0", "arg1": a PD went online or offline, the secure channel came up
or went down, an application command completed).

The card id (`card`), so that one credential reads the same on every reader family:

* A raw Wiegand read of 26 or 34 bits must pass its parity check; its id is the Wiegand family's (the data
  bits, facility * 65536 + number, as 10 decimal digits; see drivers.wiegand.codec), so a fob reads the same
  on an OSDP reader as behind a Wiegand converter. A read that fails its parity is rejected ("bad_parity").
* A raw Wiegand read of another length (35, 37, 48 bits, ...) has no layout here; its id is all its bits,
  parity included, as one decimal number.
* Any other format (raw unspecified, or ASCII) gives the bits as upper-case hex, ceil(bits / 4) digits.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from osdp import CardFormat, Command, Event, EventNotification, StatusReportType

from drivers.wiegand.codec import LAYOUTS, WiegandCard, decode_bits

CARD_FORMATS: Mapping[int, str] = MappingProxyType({
    CardFormat.Unspecified: "raw", CardFormat.Wiegand: "wiegand", CardFormat.ASCII: "ascii"})
"""libosdp's card formats by the name card.read events give them."""

KEY_NAMES: Mapping[int, str] = MappingProxyType({
    **{code: chr(code) for code in b"0123456789"}, 0x7F: "*", 0x0D: "#"})
"""OSDP keypad codes: ASCII digits, DEL for '*' and CR for '#'."""

COMMAND_NAMES: Mapping[int, str] = MappingProxyType({
    Command.Output: "output", Command.LED: "led", Command.Buzzer: "buzzer", Command.Text: "text",
    Command.Keyset: "keyset", Command.Comset: "comset", Command.Manufacturer: "mfg"})

RejectReason: TypeAlias = Literal["bad_parity", "bad_length", "bad_format", "bad_keys"]


@dataclass(frozen=True, slots=True)
class CardRead:
    """A credential presented at a PD; `card` is the canonical id (see the module docstring)."""

    card: str
    format: str
    bits: int
    reader_no: int = 0
    facility: int | None = None
    number: int | None = None


@dataclass(frozen=True, slots=True)
class KeypadInput:
    """Keys pressed at a PD, as the characters on them ("0"-"9", "*", "#")."""

    keys: str
    reader_no: int = 0


@dataclass(frozen=True, slots=True)
class LocalStatus:
    """A PD's own tamper switch and power supply."""

    tamper: bool
    power_failure: bool


@dataclass(frozen=True, slots=True)
class LinkChange:
    """libosdp's verdict on the link to a PD: online or not."""

    online: bool


@dataclass(frozen=True, slots=True)
class SecureChannelChange:
    """The secure channel to a PD came up (`install_key`: with the well-known SCBK-D) or went down."""

    active: bool
    install_key: bool


@dataclass(frozen=True, slots=True)
class CommandDone:
    """A command libosdp sent a PD was acknowledged (`ok`) or refused."""

    command: str
    ok: bool


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event the gateway has no use for (input, output or reader status, manufacturer replies)."""

    event: int
    kind: int | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event whose contents make no valid read, with a short stable reason code."""

    reason: RejectReason
    raw: bytes = b""


PdEvent: TypeAlias = (CardRead | KeypadInput | LocalStatus | LinkChange | SecureChannelChange | CommandDone
                      | Ignored | Rejected)


def _bits_value(data: bytes, bits: int, reverse: bool) -> int:
    value = int.from_bytes(data, "big") >> (len(data) * 8 - bits)
    if reverse:  # "direction" 1: the PD read the card backwards
        value = int(f"{value:0{bits}b}"[::-1], 2)
    return value


def decode_card(fmt: int, data: bytes, length: int | None, *, direction: int = 0, reader_no: int = 0) -> PdEvent:
    """A card read event's fields as a CardRead, or a Rejected saying why they make none."""
    name = CARD_FORMATS.get(fmt)
    if name is None:
        return Rejected("bad_format", data)
    bits = length if name != "ascii" else len(data) * 8
    if not bits or not data or len(data) != -(-bits // 8):
        return Rejected("bad_length", data)
    value = _bits_value(data, bits, direction == 1)
    if name != "wiegand":
        return CardRead(f"{value:0{-(-bits // 4)}X}", name, bits, reader_no)
    if bits not in LAYOUTS:
        return CardRead(str(value), name, bits, reader_no)
    card = decode_bits(value, bits)
    if not isinstance(card, WiegandCard):
        return Rejected("bad_parity", data)
    return CardRead(card.card, name, bits, reader_no, card.facility, card.number)


def decode_keys(data: bytes, reader_no: int = 0) -> PdEvent:
    """A keypad event's bytes as a KeypadInput, or a Rejected when a code is no key."""
    if not data or any(code not in KEY_NAMES for code in data):
        return Rejected("bad_keys", data)
    return KeypadInput("".join(KEY_NAMES[code] for code in data), reader_no)


def _status(event: Mapping[str, Any]) -> PdEvent:
    report = bytes(event.get("report", b""))
    if event.get("type") != StatusReportType.Local:
        return Ignored(Event.Status, event.get("type"))
    if len(report) != 2:
        return Rejected("bad_length", report)
    return LocalStatus(tamper=report[0] != 0, power_failure=report[1] != 0)


def _notification(event: Mapping[str, Any]) -> PdEvent:
    kind, arg0, arg1 = event.get("type"), int(event.get("arg0", 0)), int(event.get("arg1", 0))
    if kind == EventNotification.PeripheralDeviceStatus:
        return LinkChange(online=bool(arg0))
    if kind == EventNotification.SecureChannelStatus:
        return SecureChannelChange(active=bool(arg0), install_key=bool(arg1))
    if kind == EventNotification.Command:
        return CommandDone(COMMAND_NAMES.get(arg0, f"command_{arg0}"), ok=bool(arg1))
    return Ignored(Event.Notification, kind)


def decode_event(event: Mapping[str, Any]) -> PdEvent:
    """One libosdp event dict as a typed record."""
    kind = event.get("event")
    if kind == Event.CardRead:
        return decode_card(int(event.get("format", -1)), bytes(event.get("data", b"")), event.get("length"),
                           direction=int(event.get("direction", 0)), reader_no=int(event.get("reader_no", 0)))
    if kind == Event.KeyPress:
        return decode_keys(bytes(event.get("data", b"")), int(event.get("reader_no", 0)))
    if kind == Event.Status:
        return _status(event)
    if kind == Event.Notification:
        return _notification(event)
    return Ignored(int(kind) if isinstance(kind, int) else -1, None)
