"""Visitor passes: issue and verify offline, typed input, tampering, windows, estates, single use."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.access import AccessCache, VisitorPass, decide_pass
from gateway.access.visitor_pass import PassError, grouped, issue, looks_like_pass, verify
from tests.access_edge.helpers import estate_records, snapshot, utc

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()
ESTATE = "sunrise-gardens"
FROM, UNTIL = utc(2025, 6, 2, 9), utc(2025, 6, 2, 21)
NOON = utc(2025, 6, 2, 12)


def make(pass_id: int = 1001, **kwargs) -> str:
    fields = {"estate": ESTATE, "pass_id": pass_id, "valid_from": FROM, "valid_until": UNTIL,
              "doors": frozenset({"b3-lobby"}), "door_groups": frozenset({"gates"}), "single_use": True}
    fields.update(kwargs)
    return issue(KEY, **fields)



def test_round_trip():
    assert verify(PUBLIC, make(), NOON, ESTATE) == VisitorPass(
        1001, ESTATE, frozenset({"b3-lobby"}), frozenset({"gates"}), FROM, UNTIL, True)
    multi = verify(PUBLIC, make(doors=frozenset({"a", "门岗"}), door_groups=frozenset(), single_use=False),
                   NOON, ESTATE)
    assert (multi.doors, multi.door_groups, multi.single_use) == (frozenset({"a", "门岗"}), frozenset(), False)


def test_text_is_qr_alphanumeric_and_compact():
    text = make()
    assert re.fullmatch(r"[0-9A-Z]+", text)  # QR alphanumeric mode, no padding
    assert not set(text) & set("ILOU")  # Crockford: nothing to misread
    assert len(text) < 160
    assert looks_like_pass(text) and not looks_like_pass("62E3086CED")


def test_typed_input_is_forgiving():
    text = make()
    typed = grouped(text.lower(), 5).replace("0", "o").replace("1", "l")
    assert verify(PUBLIC, " " + typed + "\n", NOON, ESTATE).id == 1001


def _flip(text: str, index: int) -> str:
    return text[:index] + ("Z" if text[index] != "Z" else "Y") + text[index + 1:]


@pytest.mark.parametrize("where", [0, 3, 10, 30, -40, -1])
def test_tampered_text_is_an_invalid_signature(where):
    text = make()
    assert verify(PUBLIC, _flip(text, where % len(text)), NOON, ESTATE) == "pass_invalid_signature"


_RFC, _CROCKFORD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_payload_changed_and_re_encoded_is_an_invalid_signature():
    rfc = make().translate(str.maketrans(_CROCKFORD, _RFC))
    raw = bytearray(base64.b32decode(rfc + "=" * (-len(rfc) % 8)))
    raw[10] ^= 0x01  # valid_from moves by a second; the encoding stays perfectly well-formed
    forged = base64.b32encode(bytes(raw)).decode().rstrip("=").translate(str.maketrans(_RFC, _CROCKFORD))
    assert verify(PUBLIC, forged, NOON, ESTATE) == "pass_invalid_signature"
    raw[10] ^= 0x01
    assert base64.b32encode(bytes(raw)).decode().rstrip("=").translate(str.maketrans(_RFC, _CROCKFORD)) == make()


@pytest.mark.parametrize("text", ["", "62E3086CED", "!!!!", "Ä" * 200, "0" * 5000, "U" * 150])
def test_garbage_is_an_invalid_signature(text):
    assert verify(PUBLIC, text, NOON, ESTATE) == "pass_invalid_signature"


def test_truncated_pass_is_an_invalid_signature():
    text = make()
    assert verify(PUBLIC, text[:-8], NOON, ESTATE) == "pass_invalid_signature"
    assert verify(PUBLIC, text + "00000000", NOON, ESTATE) == "pass_invalid_signature"


def test_another_central_key_is_an_invalid_signature():
    assert verify(Ed25519PrivateKey.generate().public_key(), make(), NOON, ESTATE) == "pass_invalid_signature"


def test_pass_for_another_estate_is_an_invalid_signature():
    assert verify(PUBLIC, make(estate="maple-court"), NOON, ESTATE) == "pass_invalid_signature"
    assert verify(PUBLIC, make(), NOON, "maple-court") == "pass_invalid_signature"


@pytest.mark.parametrize(("now", "expected"), [
    (FROM - timedelta(seconds=1), "not_yet_valid"),
    (FROM, 1001),
    (UNTIL - timedelta(seconds=1), 1001),
    (UNTIL, "pass_expired"),
    (UNTIL + timedelta(days=400), "pass_expired"),
])
def test_window(now, expected):
    result = verify(PUBLIC, make(), now, ESTATE)
    assert (result.id if isinstance(result, VisitorPass) else result) == expected


def test_times_are_kept_to_the_second():
    got = verify(PUBLIC, make(valid_from=FROM + timedelta(microseconds=999_999)), NOON, ESTATE)
    assert got.valid_from == FROM


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"doors": frozenset(), "door_groups": frozenset()}, "at least one door"),
    ({"valid_from": datetime(2025, 6, 2, 9)}, "timezone-aware"),
    ({"valid_until": FROM}, "not before"),
    ({"pass_id": 1 << 32}, "32 bits"),
    ({"doors": frozenset({"x" * 256})}, "1..255 bytes"),
    ({"valid_until": utc(2200, 1, 1)}, "32-bit"),
])
def test_issue_refuses_what_the_encoding_cannot_carry(kwargs, message):
    with pytest.raises(PassError, match=message):
        make(**kwargs)


# --- single use, through the cache --------------------------------------------------------------------------

@pytest.fixture
def cache(tmp_path):
    cache = AccessCache(tmp_path / "access.sqlite")
    cache.replace_all(snapshot(1, estate_records()), synced_at=utc(2025, 6, 2))
    yield cache
    cache.close()


def _tap(cache, text, door="b3-lobby", at=NOON):
    decision = decide_pass(cache.view, door, text, at, public_key=PUBLIC, estate=ESTATE)
    cache.record(decision)
    return decision.reason


def test_single_use_pass_opens_once_and_stays_used_after_restart(tmp_path, cache):
    text = make(single_use=True)
    assert _tap(cache, text) == "granted"
    assert _tap(cache, text, door="gate-in") == "pass_used"
    cache.close()
    reopened = AccessCache(tmp_path / "access.sqlite")
    assert _tap(reopened, text) == "pass_used"
    reopened.close()


def test_multi_use_pass_opens_until_it_expires(cache):
    text = make(single_use=False)
    assert [_tap(cache, text) for _ in range(3)] == ["granted"] * 3
    assert _tap(cache, text, at=UNTIL) == "pass_expired"


def test_used_passes_are_kept_until_they_expire(cache):
    _tap(cache, make(1, single_use=True))
    _tap(cache, make(2, single_use=True, valid_until=UNTIL + timedelta(days=1)))
    assert cache.purge_used_passes(UNTIL - timedelta(seconds=1)) == 0
    assert cache.purge_used_passes(UNTIL) == 1
    assert not cache.view.pass_used(1) and cache.view.pass_used(2)


def test_a_denied_pass_is_not_marked_used(cache):
    text = make(single_use=True)
    assert _tap(cache, text, door="office") == "wrong_door_group"
    assert _tap(cache, text) == "granted"


def test_use_at_another_gateway_arrives_in_a_delta(cache):
    text = make(77, single_use=True)
    cache.apply_delta({"from_version": 1, "to_version": 2,
                       "used_passes": [{"id": 77, "valid_until": UNTIL.isoformat()}]}, synced_at=NOON)
    assert _tap(cache, text) == "pass_used"
