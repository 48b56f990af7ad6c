"""OSDP readers on RS-485, with EstateLink as the control panel through libosdp: adapter, bus thread, codecs."""
from drivers.osdp.adapter import BAUDRATES, READER, OsdpBusAdapter, check_readers
from drivers.osdp.bus import BusThread, ReaderSpec
from drivers.osdp.commands import FEEDBACK, Feedback, buzzer_command, led_command, output_command
from drivers.osdp.errors import CommandRefused, KeyUnavailable, NotCapable, OsdpError, ReaderOffline, UnknownReader
from drivers.osdp.events import CardRead, KeypadInput, LocalStatus, decode_card, decode_event, decode_keys
from drivers.osdp.framing import Packet, PacketWatcher, Rejected, checksum, crc16

__all__ = [
    "BAUDRATES",
    "FEEDBACK",
    "READER",
    "BusThread",
    "CardRead",
    "CommandRefused",
    "Feedback",
    "KeyUnavailable",
    "KeypadInput",
    "LocalStatus",
    "NotCapable",
    "OsdpBusAdapter",
    "OsdpError",
    "Packet",
    "PacketWatcher",
    "ReaderOffline",
    "ReaderSpec",
    "Rejected",
    "UnknownReader",
    "buzzer_command",
    "check_readers",
    "checksum",
    "crc16",
    "decode_card",
    "decode_event",
    "decode_keys",
    "led_command",
    "output_command",
]
