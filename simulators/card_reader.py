"""A simulated ASCII card reader on a real pseudo-terminal, for tests and for bench runs of the gateway.

`estatelink sim card-reader --link /tmp/reader0` makes a pty whose slave end behaves like the reader's
serial port; point an ascii_reader device at the link (or at the printed slave path).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import select
import sys
import time
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from drivers.ascii_reader.codec import DECIMAL_LINE, EM4100, FORMATS, STX, TEXT_LINE, encode_card, reader_format
from simulators.cli_support import bounded, point_link, remove_link


class PtyCardReader:
    """The device end of a pseudo-terminal pair; `port` is the slave path a driver opens."""

    def __init__(self, fmt: str = EM4100, *, write_timeout: float = 1.0) -> None:
        self.format = reader_format(fmt).name
        self.write_timeout = write_timeout
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged
            os.set_blocking(master, False)
            self.port = os.ttyname(slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master: int | None = master
        # Holding our own slave fd keeps the pty (and its raw settings) alive while drivers reopen it.
        self._slave: int | None = slave

    def write_frame(self, card: str) -> None:
        """Write one read of `card`, encoded in this reader's format."""
        self.write_raw(encode_card(self.format, card))

    def write_raw(self, data: bytes) -> None:
        """Write bytes as they are; TimeoutError if nobody drains the pty within write_timeout."""
        if self._master is None:
            raise ValueError("write to a closed PtyCardReader")
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout
        while view:
            try:
                view = view[os.write(self._master, view):]
                continue
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"pty {self.port} is full: nothing is reading it ({len(view)} bytes unsent)")
            select.select([], [self._master], [], remaining)

    def close(self) -> None:
        """Close both ends; a driver reading the slave sees the line hang up."""
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def __enter__(self) -> PtyCardReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_DEMO_CARDS: dict[str, Callable[[int], str]] = {
    EM4100: lambda i: f"1A{(0x00C3D5E7 + i * 7919) % 2**32:08X}",
    DECIMAL_LINE: lambda i: str(40_100_000 + i * 1237),
    TEXT_LINE: lambda i: f"DEMO-SCAN-{i:04d}",
}


def demo_cards(fmt: str, count: int) -> list[str]:
    """The same `count` card ids every run, valid for format `fmt`."""
    return [_DEMO_CARDS[reader_format(fmt).name](i) for i in range(count)]


def _bad_checksum(card: str, rng: random.Random) -> bytes:
    frame = bytearray(encode_card(EM4100, card))
    frame[11:13] = b"%02X" % (int(frame[11:13], 16) ^ rng.randint(1, 255))
    return bytes(frame)


def _truncated(fmt: str) -> Callable[[str, random.Random], bytes]:
    def garble(card: str, rng: random.Random) -> bytes:
        frame = encode_card(fmt, card)
        return frame[:rng.randint(1, len(frame) - 3)]  # loses at least the terminator
    return garble


def _noise(card: str, rng: random.Random) -> bytes:
    return bytes(b for b in rng.randbytes(rng.randint(1, 8)) if b != STX) or b"?"


def _not_digits(card: str, rng: random.Random) -> bytes:
    at = rng.randrange(len(card))
    return (card[:at] + "?" + card[at + 1:]).encode("ascii") + b"\r\n"


def _too_short(card: str, rng: random.Random) -> bytes:
    return card[:2].encode("ascii") + b"\r\n"


def _not_text(card: str, rng: random.Random) -> bytes:
    at = rng.randrange(len(card))
    return (card[:at] + "\x07" + card[at:]).encode("ascii") + b"\r\n"


_GARBLERS: dict[str, tuple[Callable[[str, random.Random], bytes], ...]] = {
    EM4100: (_bad_checksum, _truncated(EM4100), _noise),
    DECIMAL_LINE: (_not_digits, _too_short),
    TEXT_LINE: (_not_text,),
}


def garbled(fmt: str, card: str, rng: random.Random) -> bytes:
    """A corrupted read of `card` (bad checksum, cut short, noise, ...) for exercising error handling."""
    return rng.choice(_GARBLERS[reader_format(fmt).name])(card, rng)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `estatelink sim card-reader`."""
    parser.add_argument("--link", type=Path, help="symlink to create pointing at the pty slave")
    parser.add_argument("--format", choices=sorted(FORMATS), default=EM4100, help="reader output format")
    parser.add_argument("--rate", type=bounded(float, 1e-3, 1e4), default=1.0, help="reads per second")
    parser.add_argument("--garble", type=bounded(float, 0.0, 1.0), default=0.0,
                        help="probability that a read is sent corrupted")
    parser.add_argument("--cards", type=bounded(int, 1, 1_000_000), default=5, help="distinct demo cards")
    parser.add_argument("--seed", type=int, default=None, help="seed for garbling, for repeatable runs")


async def run(args: argparse.Namespace) -> None:
    """Play a card reader on a pty until cancelled, one read every 1/rate seconds."""
    rng = random.Random(args.seed)
    cards = demo_cards(args.format, args.cards)
    loop = asyncio.get_running_loop()
    with PtyCardReader(args.format, write_timeout=0.0) as reader:
        if args.link is not None:
            point_link(args.link, reader.port)
        try:
            print(reader.port, flush=True)
            start, dropping = loop.time(), False
            for n in itertools.count():
                card = cards[n % len(cards)]
                if rng.random() < args.garble:
                    data = garbled(args.format, card, rng)
                else:
                    data = encode_card(args.format, card)
                try:
                    reader.write_raw(data)
                except TimeoutError as exc:
                    if not dropping:  # say so once, not at every read, until a reader drains the pty
                        print(f"dropping reads: {exc}", file=sys.stderr, flush=True)
                    dropping = True
                else:
                    dropping = False
                await asyncio.sleep(max(0.0, start + (n + 1) / args.rate - loop.time()))
        finally:
            if args.link is not None:
                remove_link(args.link, reader.port)
