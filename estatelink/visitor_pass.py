"""Visitor passes (shared contract): central signs them with Ed25519, gateways verify them offline.

Encoding (format version 1). The binary payload, big-endian:

    u8  format version (1)
    u8  flags: bit 0 = single use; other bits 0
    u32 pass id (unique within the estate; the single-use key)
    u32 valid_from, u32 valid_until: Unix seconds (UTC), the window is valid_from <= now < valid_until
    u8  number of doors, then per door: u8 byte length + the door id in UTF-8
    u8  number of door groups, then per group: u8 byte length + the group id in UTF-8

The 64-byte Ed25519 signature covers CONTEXT + estate (UTF-8) + b"\\x00" + payload. The estate is signed
but not carried, which keeps the code short and makes a pass issued for another estate fail exactly as a
forged one does (pass_invalid_signature). The text is payload + signature in Crockford base32 (digits and
upper-case letters without I, L, O, U; no padding): QR alphanumeric mode carries it compactly, and typed
input is forgiving: case, spaces and hyphens are ignored and O/I/L read as 0/1. A pass naming one door with
an 8-character id is 89 bytes, 143 characters, 103 of them the signature.

Central issues passes (`issue`); gateways verify them (gateway/access/visitor_pass.py) with the public key.
"""
from __future__ import annotations

import base64
import binascii
import struct
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from estatelink.access_model import VisitorPass

FORMAT_VERSION = 1
CONTEXT = b"estatelink visitor pass v1\x00"
SIGNATURE_SIZE = 64
MAX_TEXT = 2048
"""Longer input is refused before decoding: no legitimate pass comes near it."""

HEADER = struct.Struct(">BBIII")
_SINGLE_USE = 0x01
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = str.maketrans(_RFC4648, _CROCKFORD)
_FROM_CROCKFORD = str.maketrans(_CROCKFORD + "OIL", _RFC4648 + "ABB")
IGNORED = str.maketrans("", "", "- \t\r\n")
"""Characters typed input may carry that are not part of the code."""
MIN_SIGNED_BYTES = HEADER.size + 2 + SIGNATURE_SIZE
"""The shortest payload + signature a pass can be (no doors, no groups)."""


class PassError(ValueError):
    """A pass cannot be issued as asked (it would not fit the encoding or would open nothing)."""


def signed_message(estate: str, payload: bytes) -> bytes:
    """What the signature covers: the context, the estate and the payload."""
    return CONTEXT + estate.encode("utf-8") + b"\x00" + payload


def _seconds(at: datetime, what: str) -> int:
    if at.utcoffset() is None:
        raise PassError(f"{what} must be timezone-aware, got {at!r}")
    seconds = int(at.timestamp())
    if not 0 <= seconds < 1 << 32:
        raise PassError(f"{what} {at.isoformat()} does not fit a 32-bit Unix time")
    return seconds


def _pack_ids(ids: frozenset[str], what: str) -> bytes:
    if len(ids) > 255:
        raise PassError(f"a pass names at most 255 {what}, got {len(ids)}")
    out = bytearray((len(ids),))
    for item in sorted(ids):
        raw = item.encode("utf-8")
        if not 0 < len(raw) <= 255:
            raise PassError(f"{what} id {item!r} must be 1..255 bytes of UTF-8")
        out.append(len(raw))
        out += raw
    return bytes(out)


def encode_payload(pass_: VisitorPass) -> bytes:
    """The signed payload of a pass (the estate is not in it: it is bound by the signature)."""
    if not 0 <= pass_.id < 1 << 32:
        raise PassError(f"pass id {pass_.id} does not fit 32 bits")
    if not pass_.doors and not pass_.door_groups:
        raise PassError("a pass must name at least one door or door group")
    header = HEADER.pack(FORMAT_VERSION, _SINGLE_USE if pass_.single_use else 0, pass_.id,
                          _seconds(pass_.valid_from, "valid_from"), _seconds(pass_.valid_until, "valid_until"))
    return header + _pack_ids(pass_.doors, "doors") + _pack_ids(pass_.door_groups, "door groups")


def issue(private_key: Ed25519PrivateKey, *, estate: str, pass_id: int, valid_from: datetime,
          valid_until: datetime, doors: frozenset[str] = frozenset(), door_groups: frozenset[str] = frozenset(),
          single_use: bool = True) -> str:
    """Sign a pass and return its text (times are kept to the second, rounded down)."""
    valid_from = datetime.fromtimestamp(_seconds(valid_from, "valid_from"), UTC)
    valid_until = datetime.fromtimestamp(_seconds(valid_until, "valid_until"), UTC)
    try:
        pass_ = VisitorPass(pass_id, estate, frozenset(doors), frozenset(door_groups), valid_from, valid_until,
                            single_use)
    except ValueError as exc:
        raise PassError(str(exc)) from None
    payload = encode_payload(pass_)
    signature = private_key.sign(signed_message(estate, payload))
    return base64.b32encode(payload + signature).decode("ascii").rstrip("=").translate(_TO_CROCKFORD)


def grouped(text: str, size: int = 4) -> str:
    """The text in hyphen-separated groups, for showing a code someone has to type."""
    return "-".join(text[i:i + size] for i in range(0, len(text), size))


def decode_text(text: str) -> bytes | None:
    """The bytes of a pass text (typed or scanned), or None when it cannot be one."""
    if len(text) > MAX_TEXT or not text.isascii():
        return None
    compact = text.translate(IGNORED).upper()
    if any(char not in _CROCKFORD and char not in "OIL" for char in compact):
        return None
    rfc = compact.translate(_FROM_CROCKFORD)
    try:
        return base64.b32decode(rfc + "=" * (-len(rfc) % 8))
    except (binascii.Error, ValueError):
        return None


def _unpack_ids(payload: bytes, offset: int) -> tuple[frozenset[str], int]:
    count = payload[offset]
    offset += 1
    ids = []
    for _ in range(count):
        size = payload[offset]
        raw = payload[offset + 1:offset + 1 + size]
        if size == 0 or len(raw) != size:
            raise ValueError("truncated id")
        ids.append(raw.decode("utf-8"))
        offset += 1 + size
    return frozenset(ids), offset


def decode_payload(payload: bytes, estate: str) -> VisitorPass:
    """Parse a payload whose signature has been checked; ValueError (or IndexError) if it is malformed."""
    version, flags, pass_id, start, end = HEADER.unpack_from(payload)
    if version != FORMAT_VERSION or flags & ~_SINGLE_USE:
        raise ValueError(f"unknown pass format {version} / flags {flags:#x}")
    doors, offset = _unpack_ids(payload, HEADER.size)
    groups, offset = _unpack_ids(payload, offset)
    if offset != len(payload):
        raise ValueError("trailing bytes")
    return VisitorPass(pass_id, estate, doors, groups, datetime.fromtimestamp(start, UTC),
                       datetime.fromtimestamp(end, UTC), bool(flags & _SINGLE_USE))
