"""A simulated Wiegand reader and Wiegand-to-serial converter on a real pseudo-terminal, for tests and bench runs.

`python -m simulators.wiegand_reader --link /tmp/wiegand0 --format binary_stx` makes a pty whose slave end
behaves like the converter's serial port; point a wiegand_reader device at the link (or the printed path).
Besides good reads it can send bad parity, noise, truncated frames and out-of-range numbers, or stay silent.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from drivers.wiegand.codec import (
    BINARY_STX,
    DECIMAL_LINE_FC,
    FORMATS,
    HEX_LINE,
    LAYOUTS,
    STX,
    converter_format,
    encode_bits,
    encode_frame,
)
from simulators.card_reader import PtyCardReader
from simulators.cli_support import bounded, point_link, remove_link

_LINE_ENDS = frozenset(b"\r\n")


class PtyWiegandReader:
    """The converter end of a pseudo-terminal pair; `port` is the slave path a driver opens."""

    def __init__(self, fmt: str = HEX_LINE, *, bits: int = 26, write_timeout: float = 1.0) -> None:
        if bits not in LAYOUTS:
            raise ValueError(f"bits is one of {', '.join(map(str, LAYOUTS))}, got {bits!r}")
        self.format = converter_format(fmt).name
        self.bits = bits
        # The ASCII reader simulator's pty passes bytes through unchanged; only its write_raw is used.
        self._pty = PtyCardReader(write_timeout=write_timeout)
        self.port = self._pty.port

    def write_card(self, facility: int, number: int) -> None:
        """Write one good read of the card, as this converter formats it."""
        self.write_raw(encode_frame(self.format, facility, number, self.bits))

    def write_bad_parity(self, facility: int, number: int, half: str = "odd") -> None:
        """Write a read of the card with its "even" (leading) or "odd" (trailing) parity bit flipped."""
        if half not in ("even", "odd"):
            raise ValueError(f"half is 'even' or 'odd', got {half!r}")
        if not FORMATS[self.format].carries_parity:
            raise ValueError(f"{self.format} carries no parity bits (the converter drops them)")
        flip = 1 << (self.bits - 1) if half == "even" else 1
        self.write_raw(FORMATS[self.format].encode(encode_bits(facility, number, self.bits) ^ flip, self.bits))

    def write_raw(self, data: bytes) -> None:
        """Write bytes as they are; TimeoutError if nobody drains the pty within write_timeout."""
        self._pty.write_raw(data)

    def close(self) -> None:
        """Close both ends; a driver reading the slave sees the line hang up."""
        self._pty.close()

    def __enter__(self) -> PtyWiegandReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def demo_cards(bits: int, count: int) -> list[tuple[int, int]]:
    """The same `count` (facility, number) cards every run, valid for `bits`-bit frames."""
    facility_limit = 1 << LAYOUTS[bits].facility_bits
    return [((18 + i * 37) % facility_limit, (12345 + i * 7919) % 65536) for i in range(count)]


Garbler = Callable[[str, int, tuple[int, int], random.Random], bytes]


def _bad_parity(fmt: str, bits: int, card: tuple[int, int], rng: random.Random) -> bytes:
    flip = rng.choice((1 << (bits - 1), 1))  # the even (leading) or the odd (trailing) parity bit
    return FORMATS[fmt].encode(encode_bits(*card, bits) ^ flip, bits)


def _truncated(fmt: str, bits: int, card: tuple[int, int], rng: random.Random) -> bytes:
    frame = encode_frame(fmt, *card, bits)
    if fmt == BINARY_STX:
        return frame[:rng.randint(1, len(frame) - 1)]  # loses at least the ETX
    line = frame.rstrip(b"\r\n")
    return line[:rng.randint(1, len(line) - 1)] + b"\r\n"  # a read that lost digits, still a whole line


def _noise(fmt: str, bits: int, card: tuple[int, int], rng: random.Random) -> bytes:
    junk = bytes(b for b in rng.randbytes(rng.randint(1, 8)) if b != STX and b not in _LINE_ENDS)
    if fmt == BINARY_STX:
        return junk or b"?"
    return b"?" + junk + b"\r\n"  # "?" keeps a line of junk from reading as a (too short) number


def _out_of_range(fmt: str, bits: int, card: tuple[int, int], rng: random.Random) -> bytes:
    return b"%d,%d\r\n" % (card[0], rng.randint(65536, 99999))


_GARBLERS: dict[str, tuple[Garbler, ...]] = {
    HEX_LINE: (_bad_parity, _truncated, _noise),
    DECIMAL_LINE_FC: (_noise, _out_of_range),  # no parity sent, and a shortened number is still a number
    BINARY_STX: (_bad_parity, _truncated, _noise),
}


def garbled(fmt: str, bits: int, card: tuple[int, int], rng: random.Random) -> bytes:
    """A corrupted read of `card` (bad parity, cut short, noise, ...) for exercising error handling."""
    return rng.choice(_GARBLERS[converter_format(fmt).name])(fmt, bits, card, rng)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the simulator's options."""
    parser.add_argument("--link", type=Path, help="symlink to create pointing at the pty slave")
    parser.add_argument("--format", choices=sorted(FORMATS), default=HEX_LINE, help="converter output format")
    parser.add_argument("--bits", type=int, choices=sorted(LAYOUTS), default=26, help="Wiegand frame length")
    parser.add_argument("--rate", type=bounded(float, 1e-3, 1e4), default=1.0, help="read slots per second")
    parser.add_argument("--garble", type=bounded(float, 0.0, 1.0), default=0.0,
                        help="probability that a read is sent corrupted")
    parser.add_argument("--silence", type=bounded(float, 0.0, 1.0), default=0.0,
                        help="probability that a read slot passes with nothing sent")
    parser.add_argument("--cards", type=bounded(int, 1, 1_000_000), default=5, help="distinct demo cards")
    parser.add_argument("--count", type=bounded(int, 0, 10**9), default=0,
                        help="stop after this many read slots (0: run until interrupted)")
    parser.add_argument("--seed", type=int, default=None, help="seed for garbling and silence, for repeatable runs")


async def run(args: argparse.Namespace) -> None:
    """Play a converter on a pty until cancelled (or `count` slots have passed), one slot every 1/rate seconds."""
    rng = random.Random(args.seed)
    cards = demo_cards(args.bits, args.cards)
    loop = asyncio.get_running_loop()
    with PtyWiegandReader(args.format, bits=args.bits, write_timeout=0.0) as reader:
        if args.link is not None:
            point_link(args.link, reader.port)
        try:
            print(reader.port, flush=True)
            start, dropping = loop.time(), False
            for n in itertools.count() if args.count == 0 else range(args.count):
                card = cards[n % len(cards)]
                if rng.random() >= args.silence:
                    if rng.random() < args.garble:
                        data = garbled(args.format, args.bits, card, rng)
                    else:
                        data = encode_frame(args.format, *card, args.bits)
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


def main(argv: list[str] | None = None) -> int:
    """Run the simulator from the command line; prints the pty path, stops on Ctrl-C or after --count slots."""
    parser = argparse.ArgumentParser(prog="python -m simulators.wiegand_reader",
                                     description="A simulated Wiegand-to-serial converter on a pseudo-terminal.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
