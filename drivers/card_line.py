"""What every serial card reader's adapter does: own the line, feed the codec, emit card reads, count rejections.

The line is a serial port, or tcp://host:port for a serial-to-Ethernet converter. A reader family supplies
its decoder and how a decoded frame becomes the data of a `card.read` event; everything else is here.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

import serial_asyncio_fast

from drivers.base import DeviceEvent, DriverStats, Emit, TransportError

READ_SIZE = 1024
CLOSE_TIMEOUT_S = 2.0
LOG_EVERY = 100
"""After the first rejection of a reason is logged loudly, only every LOG_EVERY-th one is."""


class Decoder(Protocol):
    def feed(self, data: bytes) -> list[Any]: ...


def mask_card(card: str) -> str:
    """Hide all but the last 4 characters of a card id (all of it if it is that short), for logs."""
    if len(card) <= 4:
        return "*" * len(card)
    return "*" * (len(card) - 4) + card[-4:]


def tcp_address(port: str) -> tuple[str, int] | None:
    """(host, port) of a tcp://host:port line; None for a serial device path."""
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


class CardLineAdapter:
    """Base of the card reader adapters; subclasses say which frames are cards and what a card read carries."""

    frame_type: type
    log = logging.getLogger("drivers")

    def __init__(self, device_id: str, port: str, *, baudrate: int, emit: Emit, stats: DriverStats | None) -> None:
        self.device_id = device_id
        self.port = port
        self.baudrate = baudrate
        self.stats = stats if stats is not None else DriverStats()
        self._emit = emit
        self._tcp = tcp_address(port)
        self.new_decoder()  # fail at construction on bad codec options

    def new_decoder(self) -> Decoder:
        raise NotImplementedError

    def card_data(self, frame: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def run(self) -> None:
        """Read the line until cancelled; raise TransportError when it fails or closes."""
        reader, writer = await self._open()
        try:
            self.stats.state = "online"
            self.log.info("%s: reading %s", self.device_id, self.port)
            decoder = self.new_decoder()  # a fresh buffer for each connection
            while True:
                try:
                    data = await reader.read(READ_SIZE)
                except OSError as exc:  # pyserial's SerialException is an OSError too
                    raise TransportError(f"{self.device_id}: read from {self.port} failed: {exc}") from exc
                if not data:
                    raise TransportError(f"{self.device_id}: {self.port} closed (end of stream)")
                cards = []
                for item in decoder.feed(data):
                    if isinstance(item, self.frame_type):
                        cards.append(self._card(item))
                    else:
                        self._rejected(item)
                if len(cards) == 1:
                    await cards[0]  # the usual single tap: no task, no loop turn before a door decides it
                elif cards:
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

    async def _card(self, frame: Any) -> None:
        data = self.card_data(frame)
        self.log.debug("%s: card %s", self.device_id, mask_card(data["card"]))
        await self._emit(DeviceEvent(kind="card.read", data=data))
        self.stats.frames_ok += 1

    def _rejected(self, item: Any) -> None:
        self.stats.reject(item.reason)
        count = self.stats.rejections[item.reason]
        level = logging.WARNING if count == 1 or count % LOG_EVERY == 0 else logging.DEBUG
        # The raw bytes may hold a whole card number, so they stay out of anything above DEBUG.
        self.log.log(level, "%s: rejected %d bytes from %s: %s (%d so far)",
                     self.device_id, len(item.raw), self.port, item.reason, count)
        self.log.debug("%s: rejected bytes %r", self.device_id, item.raw)
