"""The packet watcher against packets captured from libosdp 3.2.9 itself, noise and corrupt copies."""
from __future__ import annotations

import pytest

from drivers.osdp.framing import MAX_NOISE, Packet, PacketWatcher, Rejected, check_ok, checksum, crc16

PDID = bytes.fromhex("53e514000445feca00010101000000000001d8a9")
"""A PD at address 101 answering osdp_ID with osdp_PDID (CRC-16), as libosdp's PD sent it."""
PDCAP = bytes.fromhex("53e51d0005460201010401010501010801000901000a00011002009a72")
ID_COMMAND = bytes.fromhex("530109000461006023")
"""The CP's osdp_ID to address 1 (libosdp sends a 0xFF mark byte in front of it)."""
POLL_CHECKSUM = bytes.fromhex("53000700006046")
"""osdp_POLL to address 0 with an 8-bit checksum: 0x53 + 0x07 + 0x60 + 0x46 = 0x100."""


def test_crc_and_checksum_match_libosdp() -> None:
    assert crc16(PDID[:-2]) == 0xA9D8
    assert crc16(ID_COMMAND[:-2]) == 0x2360
    assert checksum(POLL_CHECKSUM[:-1]) == 0x46
    assert all(check_ok(packet) for packet in (PDID, PDCAP, ID_COMMAND, POLL_CHECKSUM))


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_packets_in_any_chunks(chunk: int) -> None:
    stream = b"\xff" + ID_COMMAND + PDID + PDCAP + POLL_CHECKSUM
    watcher, out = PacketWatcher(), []
    for at in range(0, len(stream), chunk):
        out += watcher.feed(stream[at:at + chunk])
    assert out == [Packet(1, False, ID_COMMAND), Packet(101, True, PDID), Packet(101, True, PDCAP),
                   Packet(0, False, POLL_CHECKSUM)]
    assert watcher.buffered == 0


@pytest.mark.parametrize(("stream", "expected"), [
    (b"junk" + PDID, [Rejected("noise", b"junk"), Packet(101, True, PDID)]),
    (b"\xff\xff" + PDID, [Rejected("noise", b"\xff"), Packet(101, True, PDID)]),  # one mark byte, not two
    (b"\x53\x65\xff\xff\x04" + PDID, [Rejected("bad_length", b"\x53\x65\xff\xff\x04"), Packet(101, True, PDID)]),
    (b"\x53\x65\x03\x00\x04" + PDID, [Rejected("bad_length", b"\x53\x65\x03\x00\x04"), Packet(101, True, PDID)]),
    (PDID[:-1] + b"\x00" + PDCAP, [Rejected("bad_check", PDID[:-1] + b"\x00"), Packet(101, True, PDCAP)]),
    (PDID[:9] + PDID, [Rejected("bad_check", PDID[:9]), Packet(101, True, PDID)]),  # cut short by the next SOM
    (POLL_CHECKSUM[:-1] + b"\x47", [Rejected("bad_check", POLL_CHECKSUM[:-1] + b"\x47")]),
], ids=["noise", "two marks", "too long", "too short", "bad crc", "truncated", "bad checksum"])
def test_rejections_resume_at_the_next_packet(stream: bytes, expected: list[object]) -> None:
    watcher = PacketWatcher()
    assert watcher.feed(stream) == expected
    byte_by_byte = PacketWatcher()
    assert [item for b in stream for item in byte_by_byte.feed(bytes((b,)))] == expected


def test_long_noise_is_cut_into_bounded_runs() -> None:
    watcher = PacketWatcher()
    out = watcher.feed(b"\x00" * (MAX_NOISE * 2 + 5))
    assert out == [Rejected("noise", b"\x00" * MAX_NOISE)] * 2
    assert watcher.buffered == 5


def test_a_run_of_soms_cannot_grow_the_buffer() -> None:
    watcher = PacketWatcher()
    out = watcher.feed(b"\x53" * 5000)
    assert {item.reason for item in out if isinstance(item, Rejected)} == {"bad_length"}
    assert watcher.buffered < 8
    assert watcher.feed(PDID)[-1] == Packet(101, True, PDID)
