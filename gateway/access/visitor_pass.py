"""Visitor passes at the gateway: verified offline with central's Ed25519 public key.

The pass format and its issuing live in the shared contract, estatelink/visitor_pass.py (central signs with
it and may not import gateway code); this module adds what only a gateway does: checking a pass.
"""
from __future__ import annotations

import struct
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from estatelink.access_model import PassRejection, VisitorPass
from estatelink.visitor_pass import (
    CONTEXT,
    FORMAT_VERSION,
    IGNORED,
    MAX_TEXT,
    MIN_SIGNED_BYTES,
    SIGNATURE_SIZE,
    PassError,
    decode_payload,
    decode_text,
    encode_payload,
    grouped,
    issue,
    signed_message,
)

__all__ = ["CONTEXT", "FORMAT_VERSION", "MAX_TEXT", "SIGNATURE_SIZE", "PassError", "check", "decode_payload",
           "encode_payload", "grouped", "issue", "looks_like_pass", "verify"]


def check(public_key: Ed25519PublicKey, text: str, now: datetime,
          estate: str) -> tuple[VisitorPass | None, PassRejection | None]:
    """Verify a pass: (pass, None) if good now, (pass, reason) if outside its window, else (None, reason)."""
    raw = decode_text(text)
    if raw is None or len(raw) < MIN_SIGNED_BYTES:
        return None, "pass_invalid_signature"
    payload, signature = raw[:-SIGNATURE_SIZE], raw[-SIGNATURE_SIZE:]
    try:
        public_key.verify(signature, signed_message(estate, payload))
        pass_ = decode_payload(payload, estate)
    except (InvalidSignature, ValueError, IndexError, struct.error):
        # a payload central signed but we cannot parse is as unusable as a forged one
        return None, "pass_invalid_signature"
    if now < pass_.valid_from:
        return pass_, "not_yet_valid"
    if now >= pass_.valid_until:
        return pass_, "pass_expired"
    return pass_, None


def verify(public_key: Ed25519PublicKey, text: str, now: datetime, estate: str) -> VisitorPass | PassRejection:
    """The pass if it is authentic, for this estate and valid at `now`; otherwise the decision reason."""
    pass_, rejection = check(public_key, text, now, estate)
    return pass_ if rejection is None and pass_ is not None else rejection or "pass_invalid_signature"


def looks_like_pass(text: str) -> bool:
    """Whether a scanned or typed string is long enough to be a pass rather than a card id."""
    return len(text.translate(IGNORED)) >= MIN_SIGNED_BYTES * 8 // 5
