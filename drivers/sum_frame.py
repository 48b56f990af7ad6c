"""The 68H ... CS 16H link layer that DL/T 645 and CJ/T 188 meters share, found in a byte stream cut anywhere.

A frame is 68H, a fixed header ending in a length byte, that many data bytes, CS (sum mod 256 of every byte
from the 68H through the data) and 16H, after up to MAX_WAKEUP FEH wake-up bytes. Nothing here knows what
the header or the data mean: the protocols' codecs decide that from the frames this framer hands them.
"""
from __future__ import annotations

from typing import Literal, TypeAlias

PREAMBLE, START, END = 0xFE, 0x68, 0x16
MAX_WAKEUP = 16
"""Most wake-up bytes the decoder drops silently before a frame; more are noise."""
MAX_NOISE = 256
"""Longest noise run reported as one item; also what bounds the buffer while no frame has started."""


FrameEvent: TypeAlias = tuple[Literal["frame", "bad_checksum", "noise"], bytes]


class SumFramer:
    """Finds 68H ... CS 16H frames (CS: sum mod 256 of the bytes before it) in a byte stream cut anywhere.

    `header` counts the bytes from the 68H through the length byte; `sync` lists header offsets that
    hold another 68H. A 68H starts a candidate, which its header and its 16H must confirm; if they do
    not, or if a whole valid frame starts inside its claimed length (a stray 68H must not hold back a
    complete answer until its bogus length has arrived), its first byte is noise and scanning resumes at
    the next. Up to MAX_WAKEUP FEH before a frame are dropped. A frame whose sum fails is "bad_checksum"
    whole. Noise comes out in runs, a run ending at the next frame or after MAX_NOISE bytes.
    """

    def __init__(self, header: int, *, max_data: int = 0xFF, sync: tuple[int, ...] = ()) -> None:
        self._header, self._max_data, self._sync = header, max_data, sync
        self._buf = bytearray()  # from the first byte not yet settled
        self._noise = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held back while waiting to see how a frame or noise run ends."""
        return len(self._buf) + len(self._noise)

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Consume received bytes; return what they settle, in order."""
        out: list[FrameEvent] = []
        self._buf += data
        while self._settle_head(out):
            pass
        return out

    def _span(self, at: int) -> int | None:
        buf, length = self._buf, self._buf[at + self._header - 1]
        if buf[at] != START or any(buf[at + i] != START for i in self._sync) or length > self._max_data:
            return None
        return at + self._header + length + 2

    def _valid_frame_at(self, at: int, limit: int) -> bool:
        end = self._span(at) if at + self._header <= limit else None
        buf = self._buf
        if end is None or end > limit or buf[end - 1] != END:
            return False
        return sum(buf[at:end - 2]) & 0xFF == buf[end - 2]

    def _settle_head(self, out: list[FrameEvent]) -> bool:
        buf = self._buf
        wake = 0
        while wake < len(buf) and buf[wake] == PREAMBLE:
            wake += 1
        if wake > MAX_WAKEUP:
            return self._to_noise(wake - MAX_WAKEUP, out)
        if wake == len(buf):
            return False
        if buf[wake] != START:
            return self._to_noise(wake + 1, out)
        if len(buf) < wake + self._header:
            return False
        end = self._span(wake)
        if end is None:
            return self._to_noise(wake + 1, out)
        limit = min(end, len(buf))
        if any(buf[at] == START and self._valid_frame_at(at, limit) for at in range(wake + 1, limit)):
            return self._to_noise(wake + 1, out)
        if len(buf) < end:
            return False
        if buf[end - 1] != END:
            return self._to_noise(wake + 1, out)
        frame = bytes(buf[wake:end])
        del buf[:end]
        self._flush_noise(out)
        out.append(("frame" if sum(frame[:-2]) & 0xFF == frame[-2] else "bad_checksum", frame))
        return True

    def _to_noise(self, count: int, out: list[FrameEvent]) -> bool:
        self._noise += self._buf[:count]
        del self._buf[:count]
        while len(self._noise) >= MAX_NOISE:
            out.append(("noise", bytes(self._noise[:MAX_NOISE])))
            del self._noise[:MAX_NOISE]
        return True

    def _flush_noise(self, out: list[FrameEvent]) -> None:
        if self._noise:
            out.append(("noise", bytes(self._noise)))
            self._noise.clear()
