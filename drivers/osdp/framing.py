"""Sans-I/O watcher of the bytes a control panel receives on an OSDP line: good packets, and the rest.

Theory of operation: libosdp parses the line itself and is the only thing that acts on it. This watcher
judges the same received bytes for two things libosdp does not tell its Python caller: how many bytes were
noise or corrupt packets (the heartbeat counters), and when each reader was last heard (to tell a reader that
answers but fails the secure channel from one that is silent).

An OSDP packet (IEC 60839-11-5) is SOM (0x53), the address (a reply sets the top bit), the packet length
(LSB, MSB; the whole packet from SOM to the last check byte), a control byte whose bit 2 says the packet ends
in a CRC-16 (else in an 8-bit checksum), then the body. A 0xFF just before SOM is the optional mark byte and
is no noise. Bytes outside packets are noise, one Rejected per run. A header with an impossible length, or a
packet whose check fails, is rejected up to the next SOM inside it, where judging resumes, so a corrupted
packet never costs the one after it. Feeding byte by byte gives the same result as feeding everything at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

SOM, MARK = 0x53, 0xFF
REPLY_BIT = 0x80
CTRL_CRC = 0x04
HEADER = 5
"""SOM, address, length LSB, length MSB, control."""
MIN_PACKET = HEADER + 2
"""The header, a command or reply code and a one-byte checksum."""
MAX_PACKET = 1024
"""Longest packet taken as a packet; a longer length is a lost frame boundary (libosdp's buffer is smaller)."""
MAX_NOISE = 256
"""Longest noise run reported as one Rejected; also what bounds the buffer while no packet has started."""

RejectReason: TypeAlias = Literal["noise", "bad_length", "bad_check"]


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet whose check is good; `address` without the reply bit, `reply` True when a PD sent it."""

    address: int
    reply: bool
    raw: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """Received bytes that make no good packet, with a short stable reason code."""

    reason: RejectReason
    raw: bytes


Judged: TypeAlias = Packet | Rejected


def crc16(data: bytes) -> int:
    """OSDP's CRC-16: CRC-16/AUG-CCITT (polynomial 0x1021, initial value 0x1D0F, no reflection)."""
    crc = 0x1D0F
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1 ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def checksum(data: bytes) -> int:
    """OSDP's 8-bit checksum: the two's complement of the byte sum, so that all bytes with it sum to zero."""
    return -sum(data) & 0xFF


def check_ok(packet: bytes | bytearray) -> bool:
    """Whether a whole packet's CRC-16 or checksum (as its control byte says) matches."""
    if packet[4] & CTRL_CRC:
        return len(packet) >= MIN_PACKET + 1 and crc16(packet[:-2]) == int.from_bytes(packet[-2:], "little")
    return checksum(packet[:-1]) == packet[-1]


class PacketWatcher:
    """Splits a received byte stream, cut anywhere, into Packet and Rejected items."""

    def __init__(self) -> None:
        self._packet: bytearray | None = None  # from its SOM, while inside a packet
        self._noise = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held back while waiting to see how a packet or noise run ends."""
        return len(self._noise) + (len(self._packet) if self._packet is not None else 0)

    def feed(self, data: bytes) -> list[Judged]:
        """Consume received bytes; return the packets and rejections they complete, in order."""
        out: list[Judged] = []
        self._feed(data, out)
        return out

    def _feed(self, data: bytes, out: list[Judged]) -> None:
        stack = [data]  # a resync pushes back the bytes after the rejected SOM, to be judged before the rest
        while stack:
            chunk = stack.pop()
            for at, byte in enumerate(chunk):
                again = self._byte(byte, out)
                if again is not None:
                    stack.append(chunk[at + 1:])
                    stack.append(again)
                    break

    def _byte(self, byte: int, out: list[Judged]) -> bytes | None:
        if self._packet is None:
            if byte == SOM:
                self._end_noise(out)
                self._packet = bytearray((SOM,))
            else:
                self._noise.append(byte)
                if len(self._noise) >= MAX_NOISE:
                    self._end_noise(out, before_som=False)
            return None
        self._packet.append(byte)
        size = len(self._packet)
        length = int.from_bytes(self._packet[2:4], "little") if size >= HEADER else 0
        if size == HEADER and not MIN_PACKET <= length <= MAX_PACKET:
            return self._resync("bad_length", out)
        if size > HEADER and size == length:
            if not check_ok(self._packet):
                return self._resync("bad_check", out)
            packet, self._packet = bytes(self._packet), None
            out.append(Packet(packet[1] & ~REPLY_BIT & 0xFF, bool(packet[1] & REPLY_BIT), packet))
        return None

    def _resync(self, reason: RejectReason, out: list[Judged]) -> bytes:
        assert self._packet is not None
        packet, self._packet = bytes(self._packet), None
        restart = packet.find(SOM, 1)
        if restart < 0:
            restart = len(packet)
        out.append(Rejected(reason, packet[:restart]))
        return packet[restart:]

    def _end_noise(self, out: list[Judged], *, before_som: bool = True) -> None:
        noise = self._noise
        if before_som and noise.endswith(bytes((MARK,))):
            del noise[-1:]
        if noise:
            out.append(Rejected("noise", bytes(noise)))
        noise.clear()
