"""Transport adapter: reads an ASCII card reader over a serial port or a serial-to-Ethernet TCP socket."""
from __future__ import annotations

import logging
from typing import Any

from drivers.ascii_reader.codec import AsciiReaderDecoder, CardFrame
from drivers.base import DriverStats, Emit
from drivers.card_line import CardLineAdapter, mask_card

__all__ = ["AsciiReaderAdapter", "mask_card"]


class AsciiReaderAdapter(CardLineAdapter):
    """Owns one ASCII reader's line and emits a card.read for each good frame."""

    frame_type = CardFrame
    log = logging.getLogger("drivers.ascii_reader")

    def __init__(self, device_id: str, port: str, *, baudrate: int = 9600, fmt: str = "em4100", emit: Emit,
                 stats: DriverStats | None = None, min_digits: int = 4, max_digits: int = 20) -> None:
        self._codec_options: dict[str, Any] = {"fmt": fmt, "min_digits": min_digits, "max_digits": max_digits}
        super().__init__(device_id, port, baudrate=baudrate, emit=emit, stats=stats)

    def new_decoder(self) -> AsciiReaderDecoder:
        return AsciiReaderDecoder(**self._codec_options)

    def card_data(self, frame: CardFrame) -> dict[str, Any]:
        data: dict[str, Any] = {"card": frame.card, "format": frame.format}
        if frame.id_decimal is not None:
            data["id_decimal"] = frame.id_decimal
        return data
