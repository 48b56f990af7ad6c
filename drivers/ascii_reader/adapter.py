"""Transport adapter: reads an ASCII card reader over a serial port or a serial-to-Ethernet TCP socket."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import serial_asyncio_fast

from drivers.ascii_reader.codec import AsciiReaderDecoder, CardFrame, Rejected
from drivers.base import DeviceEvent, DriverStats, Emit, TransportError

log = logging.getLogger("drivers.ascii_reader")

READ_SIZE = 1024
CLOSE_TIMEOUT_S = 2.0
LOG_EVERY = 100
"""After the first rejection of a reason is logged loudly, only every LOG_EVERY-th one is."""


def mask_card(card: str) -> str:
    """Hide all but the last 4 characters of a card id (all of it if it is that short), for logs."""
    if len(card) <= 4:
        return "*" * len(card)
    return "*" * (len(card) - 4) + card[-4:]


def _tcp_address(port: str) -> tuple[str, int] | None:
    if not port.startswith("tcp://"):
        return None
    url = urlsplit(port)
    try:
        number = url.port
    except ValueError:
        number = None
    if not url.hostname or number is None or url.path not in ("", "/"):
        raise ValueError(f"expected tcp://host:port, got {port!r}")
    return url.hostname, number


class AsciiReaderAdapter:
    """Owns one reader's line: opens it, feeds the codec, emits card.read events, counts rejections."""

    def __init__(self, device_id: str, port: str, *, baudrate: int = 9600, fmt: str = "em4100", emit: Emit,
                 stats: DriverStats | None = None, min_digits: int = 4, max_digits: int = 20) -> None:
        self.device_id = device_id
        self.port = port
        self.baudrate = baudrate
        self.stats = stats if stats is not None else DriverStats()
        self._emit = emit
        self._tcp = _tcp_address(port)
        self._codec_options: dict[str, Any] = {"fmt": fmt, "min_digits": min_digits, "max_digits": max_digits}
        AsciiReaderDecoder(**self._codec_options)  # fail at construction on a bad format or digit range

    async def run(self) -> None:
        """Read the reader until cancelled; raise TransportError when the line fails or closes."""
        reader, writer = await self._open()
        try:
            self.stats.state = "online"
            log.info("%s: reading %s", self.device_id, self.port)
            decoder = AsciiReaderDecoder(**self._codec_options)  # a fresh buffer for each connection
            while True:
                try:
                    data = await reader.read(READ_SIZE)
                except OSError as exc:  # pyserial's SerialException is an OSError too
                    raise TransportError(f"{self.device_id}: read from {self.port} failed: {exc}") from exc
                if not data:
                    raise TransportError(f"{self.device_id}: {self.port} closed (end of stream)")
                cards = []
                for item in decoder.feed(data):
                    if isinstance(item, CardFrame):
                        cards.append(self._card(item))
                    else:
                        self._rejected(item)
                # Frames that arrived together are captured together: one outbox commit, order kept.
                await asyncio.gather(*cards)
        finally:
            await self._close(writer)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            if self._tcp is not None:
                return await asyncio.open_connection(*self._tcp)
            return await serial_asyncio_fast.open_serial_connection(url=self.port, baudrate=self.baudrate)
        except OSError as exc:
            raise TransportError(f"{self.device_id}: cannot open {self.port}: {exc}") from exc

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        # Waiting lets the serial transport close its fd (done in an executor) before run() returns;
        # whatever error the line died of has already been raised.
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT_S)

    async def _card(self, frame: CardFrame) -> None:
        data: dict[str, Any] = {"card": frame.card, "format": frame.format}
        if frame.id_decimal is not None:
            data["id_decimal"] = frame.id_decimal
        log.debug("%s: card %s", self.device_id, mask_card(frame.card))
        await self._emit(DeviceEvent(kind="card.read", data=data))
        self.stats.frames_ok += 1

    def _rejected(self, item: Rejected) -> None:
        self.stats.reject(item.reason)
        count = self.stats.rejections[item.reason]
        level = logging.WARNING if count == 1 or count % LOG_EVERY == 0 else logging.DEBUG
        # The raw bytes may hold a whole card number, so they stay out of anything above DEBUG.
        log.log(level, "%s: rejected %d bytes from %s: %s (%d so far)",
                self.device_id, len(item.raw), self.port, item.reason, count)
        log.debug("%s: rejected bytes %r", self.device_id, item.raw)
