"""Transport adapter: reads a Wiegand-to-serial converter over a serial port or a serial-to-Ethernet TCP socket."""
from __future__ import annotations

import logging
from typing import Any

from drivers.base import DriverStats, Emit
from drivers.card_line import CardLineAdapter
from drivers.wiegand.codec import HEX_LINE, WiegandDecoder, WiegandFrame

READER = "wiegand"
"""The `reader` field of every card.read event this adapter emits: which reader family saw the card."""


class WiegandReaderAdapter(CardLineAdapter):
    """Owns one converter's line and emits a card.read for each frame with good parity."""

    frame_type = WiegandFrame
    log = logging.getLogger("drivers.wiegand")

    def __init__(self, device_id: str, port: str, *, baudrate: int = 9600, fmt: str = HEX_LINE,
                 bits: int | None = None, emit: Emit, stats: DriverStats | None = None) -> None:
        checked = WiegandDecoder(fmt, bits)
        self.format, self.bits = checked.format, checked.bits
        super().__init__(device_id, port, baudrate=baudrate, emit=emit, stats=stats)

    def new_decoder(self) -> WiegandDecoder:
        return WiegandDecoder(self.format, self.bits)

    def card_data(self, frame: WiegandFrame) -> dict[str, Any]:
        data: dict[str, Any] = {"card": frame.card, "format": frame.format, "reader": READER,
                                "facility": frame.facility, "number": frame.number, "id_decimal": frame.id_decimal}
        if frame.bits is not None:
            data["bits"] = frame.bits
        return data
