"""Card decisions: one row per reason, the order of checks, validity boundaries, anti-passback, offline policy."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.access import (
    REASONS,
    CredentialState,
    Direction,
    HolderKind,
    OfflineMode,
    OfflinePolicy,
    Passage,
    decide,
    decide_pass,
)
from gateway.access.visitor_pass import issue
from tests.access_edge.helpers import MON_NOON, credential, door, index, schedule, utc

CARD = "62E3086CED"
OFFICE = schedule("office", {d: [("08:00", "18:00")] for d in range(5)})
KEY = Ed25519PrivateKey.generate()
ESTATE = "sunrise-gardens"


def _card_row(*records, card=CARD, door_id="b3-lobby", at=MON_NOON, **kwargs):
    view = index(*records, **kwargs)
    return decide(view, door_id, card, at)


def _pass_row(*, at=MON_NOON, used=(), tamper=False, **kwargs):
    text = issue(KEY, estate=ESTATE, pass_id=7, valid_from=utc(2025, 6, 1), valid_until=utc(2025, 6, 3),
                 doors=frozenset({"b3-lobby"}), **kwargs)
    if tamper:
        text = text[:5] + ("A" if text[5] != "A" else "B") + text[6:]
    view = index(door())
    view.used_passes.update(dict.fromkeys(used, utc(2025, 6, 3)))
    return decide_pass(view, "b3-lobby", text, at, public_key=KEY.public_key(), estate=ESTATE)


REASON_ROWS = {
    "granted": lambda: _card_row(credential(), door()),
    "unknown_card": lambda: _card_row(credential(), door(), card="FFFFFFFFFF"),
    "expired": lambda: _card_row(credential(valid_until=MON_NOON), door()),
    "not_yet_valid": lambda: _card_row(credential(valid_from=MON_NOON + timedelta(seconds=1)),
                                       door()),
    "outside_schedule": lambda: _card_row(credential(), door(groups={"block-3": "office"}),
                                          OFFICE, at=utc(2025, 6, 2, 12)),  # Monday 20:00 local
    "wrong_door_group": lambda: _card_row(credential(), door(groups={"block-4": None})),
    "suspended": lambda: _card_row(credential(state=CredentialState.SUSPENDED), door()),
    "lost": lambda: _card_row(credential(state=CredentialState.LOST), door()),
    "returned": lambda: _card_row(credential(state=CredentialState.RETURNED), door()),
    "anti_passback": lambda: decide(_apb_view(last=Direction.IN), "gate-in", CARD, MON_NOON),
    "pass_used": lambda: _pass_row(used=(7,)),
    "pass_invalid_signature": lambda: _pass_row(tamper=True),
    "pass_expired": lambda: _pass_row(at=utc(2025, 6, 3)),
    "gateway_offline_too_long": lambda: _card_row(credential(), door(), synced=MON_NOON - timedelta(days=8),
        policy=OfflinePolicy(timedelta(days=7), OfflineMode.DENY_ALL)),
}


def test_every_reason_has_a_row():
    assert set(REASON_ROWS) == REASONS


@pytest.mark.parametrize("reason", sorted(REASON_ROWS))
def test_each_reason(reason):
    decision = REASON_ROWS[reason]()
    assert decision.reason == reason
    assert decision.granted is (reason == "granted")


def test_decision_names_door_card_holder_and_instant():
    decision = _card_row(credential(holder="r-42"), door())
    assert (decision.door, decision.card, decision.holder, decision.at) == ("b3-lobby", CARD, "r-42", MON_NOON)
    unknown = decide(index(door()), "b3-lobby", "0000000001", MON_NOON)
    assert (unknown.card, unknown.holder) == ("0000000001", None)


def test_naive_instant_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(index(credential(), door()), "b3-lobby", CARD, datetime(2025, 6, 2, 12))


# --- order of checks -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("record", "door_groups", "expected"), [
    (credential(state=CredentialState.LOST, valid_until=utc(2025, 1, 1)), {"block-4": None}, "lost"),
    (credential(state=CredentialState.SUSPENDED, valid_from=utc(2026, 1, 1)), {"block-3": None}, "suspended"),
    (credential(valid_until=utc(2025, 1, 1)), {"block-4": None}, "expired"),
    (credential(), {"block-4": None}, "wrong_door_group"),
])
def test_first_failing_check_is_the_reason(record, door_groups, expected):
    assert _card_row(record, door(groups=door_groups)).reason == expected


def test_state_is_reported_before_offline_and_offline_before_dates():
    policy = OfflinePolicy(timedelta(days=1), OfflineMode.DENY_ALL)
    stale = MON_NOON - timedelta(days=2)
    lost = credential(state=CredentialState.LOST)
    assert _card_row(lost, door(), synced=stale, policy=policy).reason == "lost"
    expired = credential(valid_until=utc(2025, 1, 1))
    assert _card_row(expired, door(), synced=stale, policy=policy).reason == "gateway_offline_too_long"


def test_unknown_door_is_denied_as_wrong_door_group():
    assert _card_row(credential(), door(), door_id="no-such-door").reason == "wrong_door_group"


# --- validity boundaries --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("at", "expected"), [
    (utc(2025, 6, 1) - timedelta(microseconds=1), "not_yet_valid"),
    (utc(2025, 6, 1), "granted"),  # valid_from is inclusive
    (utc(2025, 6, 30) - timedelta(microseconds=1), "granted"),
    (utc(2025, 6, 30), "expired"),  # valid_until is exclusive
])
def test_validity_window_is_half_open(at, expected):
    record = credential(valid_from=utc(2025, 6, 1), valid_until=utc(2025, 6, 30))
    assert _card_row(record, door(), at=at, synced=None).reason == expected


def test_validity_compares_instants_whatever_their_zone():
    until = datetime(2025, 6, 2, 12, tzinfo=ZoneInfo("Asia/Shanghai"))  # = 04:00 UTC
    record = credential(valid_until=until)
    assert _card_row(record, door(), at=utc(2025, 6, 2, 3, 59, 59)).reason == "granted"
    assert _card_row(record, door(), at=utc(2025, 6, 2, 4)).reason == "expired"


# --- door groups and schedules ----------------------------------------------------------------------------------

def test_any_shared_group_whose_schedule_is_open_grants():
    record = credential(groups=("block-3", "staff"))
    lobby = door(groups={"block-3": "office", "staff": None})
    evening = utc(2025, 6, 2, 13)  # Monday 21:00 local: office closed, staff group has no schedule
    assert _card_row(record, lobby, OFFICE, at=evening).reason == "granted"
    resident = credential(groups=("block-3",))
    assert _card_row(resident, lobby, OFFICE, at=evening).reason == "outside_schedule"


def test_a_schedule_missing_from_the_cache_is_never_open():
    assert _card_row(credential(), door(groups={"block-3": "gone"})).reason == "outside_schedule"


# --- anti-passback ---------------------------------------------------------------------------------------------

def _apb_view(last: Direction | None = None, holder: str = "r-1"):
    view = index(credential(groups=("gates",)), door("gate-in", {"gates": None}, ("estate", "in")),
                 door("gate-out", {"gates": None}, ("estate", "out")), door("plain", {"gates": None}))
    if last is not None:
        view.passages[(holder, "estate")] = Passage(last, MON_NOON - timedelta(hours=1))
    return view


@pytest.mark.parametrize(("last", "door_id", "expected"), [
    (None, "gate-in", "granted"), (None, "gate-out", "granted"),  # nothing recorded yet: either way
    (Direction.OUT, "gate-in", "granted"), (Direction.IN, "gate-out", "granted"),
    (Direction.IN, "gate-in", "anti_passback"), (Direction.OUT, "gate-out", "anti_passback"),
    (Direction.IN, "plain", "granted"),  # a door without anti-passback ignores the zone
])
def test_anti_passback(last, door_id, expected):
    assert decide(_apb_view(last), door_id, CARD, MON_NOON).reason == expected


@pytest.mark.parametrize(("ago", "expected"), [
    (timedelta(hours=11, minutes=59), "anti_passback"), (timedelta(hours=12), "granted")])
def test_anti_passback_resets_after_the_doors_period(ago, expected):
    gate = door("gate-in", {"gates": None}, ("estate", "in", timedelta(hours=12)))
    view = index(credential(groups=("gates",)), gate)
    view.passages[("r-1", "estate")] = Passage(Direction.IN, MON_NOON - ago)
    assert decide(view, "gate-in", CARD, MON_NOON).reason == expected


def test_anti_passback_is_per_holder_and_zone():
    assert decide(_apb_view(Direction.IN, holder="r-2"), "gate-in", CARD, MON_NOON).reason == "granted"
    view = _apb_view()
    view.passages[("r-1", "car-park")] = Passage(Direction.IN, MON_NOON)
    assert decide(view, "gate-in", CARD, MON_NOON).reason == "granted"


# --- offline policy ----------------------------------------------------------------------------------------------

STAFF = credential("0001191993", holder="s-1", kind=HolderKind.STAFF)


@pytest.mark.parametrize(("mode", "offline", "resident", "staff"), [
    (OfflineMode.KEEP_DECIDING, timedelta(days=30), "granted", "granted"),
    (OfflineMode.STAFF_ONLY, timedelta(days=7), "granted", "granted"),  # exactly max_offline: still fine
    (OfflineMode.STAFF_ONLY, timedelta(days=7, seconds=1), "gateway_offline_too_long", "granted"),
    (OfflineMode.DENY_ALL, timedelta(days=6), "granted", "granted"),
    (OfflineMode.DENY_ALL, timedelta(days=8), "gateway_offline_too_long", "gateway_offline_too_long"),
])
def test_offline_policy(mode, offline, resident, staff):
    view = index(credential(), STAFF, door(groups={"block-3": None}), synced=MON_NOON - offline,
                 policy=OfflinePolicy(timedelta(days=7), mode))
    assert decide(view, "b3-lobby", CARD, MON_NOON).reason == resident
    assert decide(view, "b3-lobby", "0001191993", MON_NOON).reason == staff


def test_a_cache_never_confirmed_current_counts_as_offline_too_long():
    view = index(credential(), STAFF, door(), synced=None, policy=OfflinePolicy(mode=OfflineMode.STAFF_ONLY))
    assert decide(view, "b3-lobby", CARD, MON_NOON).reason == "gateway_offline_too_long"
    assert decide(view, "b3-lobby", "0001191993", MON_NOON).reason == "granted"


def test_visitor_passes_are_not_staff_when_offline_too_long():
    text = issue(KEY, estate=ESTATE, pass_id=9, valid_from=utc(2025, 5, 1), valid_until=utc(2025, 7, 1),
                 doors=frozenset({"b3-lobby"}))
    policy = OfflinePolicy(timedelta(days=7), OfflineMode.STAFF_ONLY)
    view = index(door(), synced=MON_NOON - timedelta(days=10), policy=policy)
    decision = decide_pass(view, "b3-lobby", text, MON_NOON, public_key=KEY.public_key(), estate=ESTATE)
    assert decision.reason == "gateway_offline_too_long"


# --- visitor passes at doors ---------------------------------------------------------------------------------

def test_pass_opens_the_doors_and_door_groups_it_names_and_no_other():
    text = issue(KEY, estate=ESTATE, pass_id=3, valid_from=utc(2025, 6, 1), valid_until=utc(2025, 6, 3),
                 doors=frozenset({"office"}), door_groups=frozenset({"block-3"}))
    view = index(door(), door("office", {"staff": None}), door("b4-lobby", {"block-4": None}))

    def at(door_id):
        return decide_pass(view, door_id, text, MON_NOON, public_key=KEY.public_key(), estate=ESTATE)

    assert [at(d).reason for d in ("b3-lobby", "office", "b4-lobby")] == ["granted", "granted", "wrong_door_group"]
    assert (at("office").card, at("office").holder, at("office").visitor_pass.id) == ("pass:3", None, 3)


def test_pass_not_yet_valid_and_unverifiable_pass_card():
    early = _pass_row(at=utc(2025, 5, 31, 23, 59, 59))
    assert (early.reason, early.card) == ("not_yet_valid", "pass:7")
    assert _pass_row(tamper=True).card == "pass:invalid"


def test_schedule_helper_is_used_for_dates_in_local_time():
    # the same instant is Sunday in UTC and Monday in Shanghai; only Monday is open
    monday_only = schedule("m", {0: [("01:00", "03:00")]})
    view = index(credential(), door(groups={"block-3": "m"}), monday_only)
    assert decide(view, "b3-lobby", CARD, utc(2025, 6, 1, 18)).reason == "granted"  # Mon 02:00 local
    assert decide(view, "b3-lobby", CARD, utc(2025, 6, 2, 18)).reason == "outside_schedule"  # Tue 02:00

