"""The access decision: a card (or a visitor pass) at a door at an instant, decided from the cache alone.

Theory of operation. `decide` is pure: it reads a `CacheView` (one consistent generation of the cache) and
returns a Decision; it writes nothing, so the caller records a granted passage afterwards
(`AccessCache.record`), which is what later anti-passback and single-use checks see. The checks run in
this order and the first that fails is the reason:

1. unknown_card: no credential has this card key.
2. lost / suspended / returned: the credential's state. First, so a lost card is reported as lost
   whatever else is wrong with the tap (a guard wants to know a lost card was tried).
3. gateway_offline_too_long: the cache was last confirmed current longer ago than the offline policy's
   `max_offline` (never confirmed counts as too long); `staff_only` then denies residents, `deny_all` denies
   everyone, `keep_deciding` carries on.
4. not_yet_valid / expired: `valid_from <= at < valid_until`.
5. wrong_door_group: the card shares no door group with the door. A door the cache does not know has no
   groups, so it lands here too: fail secure, never open a door on a guess.
6. outside_schedule: none of the shared groups' schedules is open at `at` in the schedule's own zone (the
   estate's). A group with no schedule is open at all times; a schedule id the cache lacks is never open.
7. anti_passback: the door is an anti-passback door and the holder's last passage through its zone was in the
   same direction (already inside and tapping in again, or the reverse) and, if the door sets `reset_after`,
   less than that long ago. No recorded passage passes.

`decide_pass` answers a visitor pass the same way: signature, estate and window (visitor_pass.verify), then
the offline policy (a visitor is never staff), the doors and door groups the pass names, and single use.
Passes follow no schedule and no anti-passback: their window and single use are their limits.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.access import visitor_pass
from estatelink.access_model import (
    Credential,
    CredentialState,
    Decision,
    Door,
    HolderKind,
    Passage,
    Reason,
    Schedule,
    VisitorPass,
    zone,
)


class OfflineMode(enum.StrEnum):
    KEEP_DECIDING = "keep_deciding"
    STAFF_ONLY = "staff_only"
    DENY_ALL = "deny_all"


@dataclass(frozen=True, slots=True)
class OfflinePolicy:
    """What to do once the cache has not been confirmed current for longer than `max_offline`."""

    max_offline: timedelta = timedelta(days=7)
    mode: OfflineMode = OfflineMode.KEEP_DECIDING


DEFAULT_OFFLINE_POLICY = OfflinePolicy()


class CacheView(Protocol):
    """What a decision reads: one consistent generation of the credential cache."""

    @property
    def last_synced_at(self) -> datetime | None: ...

    @property
    def offline_policy(self) -> OfflinePolicy: ...

    def credential(self, card: str) -> Credential | None: ...

    def door(self, door_id: str) -> Door | None: ...

    def schedule(self, schedule_id: str) -> Schedule | None: ...

    def last_passage(self, holder_id: str, zone: str) -> Passage | None: ...

    def pass_used(self, pass_id: int) -> bool: ...


_STATE_REASONS: dict[CredentialState, Reason] = {
    CredentialState.LOST: "lost",
    CredentialState.SUSPENDED: "suspended",
    CredentialState.RETURNED: "returned",
}


def _covers(intervals: tuple[tuple[time, time], ...], clock: time, *, wrapped_only: bool) -> bool:
    for start, end in intervals:
        if end > start:
            if not wrapped_only and start <= clock < end:
                return True
        elif wrapped_only:
            if clock < end:
                return True
        elif start <= clock:
            return True
    return False


_DAY = timedelta(days=1)


def schedule_allows(schedule: Schedule, at: datetime) -> bool:
    """Whether the schedule is open at instant `at`, read in the schedule's time zone."""
    local = at.astimezone(zone(schedule.timezone))
    clock, today = local.time(), local.date()
    if _covers(schedule.intervals_on(today), clock, wrapped_only=False):
        return True
    return _covers(schedule.intervals_on(today - _DAY), clock, wrapped_only=True)


def _offline_too_long(view: CacheView, at: datetime, kind: HolderKind | None) -> bool:
    policy = view.offline_policy
    if policy.mode is OfflineMode.KEEP_DECIDING:
        return False
    synced = view.last_synced_at
    if synced is not None and at - synced <= policy.max_offline:
        return False
    return policy.mode is OfflineMode.DENY_ALL or kind is not HolderKind.STAFF


def _schedule_open(view: CacheView, schedule_id: str | None, at: datetime) -> bool:
    if schedule_id is None:
        return True
    schedule = view.schedule(schedule_id)
    return schedule is not None and schedule_allows(schedule, at)


def _check_aware(at: datetime) -> None:
    if at.utcoffset() is None:
        raise ValueError(f"decisions need a timezone-aware instant, got {at!r}")


def decide(view: CacheView, door_id: str, card: str, at: datetime) -> Decision:
    """Decide a card tap at a door, from the cache alone (checks in the module docstring's order)."""
    _check_aware(at)
    credential = view.credential(card)
    if credential is None:
        return Decision(False, "unknown_card", door_id, card, None, at)
    holder = credential.holder_id

    def deny(reason: Reason) -> Decision:
        return Decision(False, reason, door_id, card, holder, at)

    if credential.state is not CredentialState.ACTIVE:
        return deny(_STATE_REASONS[credential.state])
    if _offline_too_long(view, at, credential.holder_kind):
        return deny("gateway_offline_too_long")
    if credential.valid_from is not None and at < credential.valid_from:
        return deny("not_yet_valid")
    if credential.valid_until is not None and at >= credential.valid_until:
        return deny("expired")
    door = view.door(door_id)
    if door is None:
        return deny("wrong_door_group")
    shared = [schedule_id for group, schedule_id in door.groups if group in credential.door_groups]
    if not shared:
        return deny("wrong_door_group")
    if not any(_schedule_open(view, schedule_id, at) for schedule_id in shared):
        return deny("outside_schedule")
    apb = door.anti_passback
    if apb is not None:
        last = view.last_passage(holder, apb.zone)
        if last is not None and last.direction is apb.direction \
                and (apb.reset_after is None or at - last.at < apb.reset_after):
            return deny("anti_passback")
    return Decision(True, "granted", door_id, card, holder, at)


def _pass_opens(view: CacheView, door_id: str, granted: VisitorPass) -> bool:
    if door_id in granted.doors:
        return True
    door = view.door(door_id)
    return door is not None and any(group in granted.door_groups for group, _ in door.groups)


def decide_pass(view: CacheView, door_id: str, text: str, at: datetime, *, public_key: Ed25519PublicKey,
                estate: str) -> Decision:
    """Decide a visitor pass (QR text or typed code) at a door, verified offline with central's key."""
    _check_aware(at)
    verified, rejection = visitor_pass.check(public_key, text, at, estate)
    if verified is None:
        return Decision(False, rejection or "pass_invalid_signature", door_id, "pass:invalid", None, at)
    if rejection is not None:
        return Decision(False, rejection, door_id, f"pass:{verified.id}", None, at, verified)
    card = f"pass:{verified.id}"

    def deny(reason: Reason) -> Decision:
        return Decision(False, reason, door_id, card, None, at, verified)

    if _offline_too_long(view, at, None):
        return deny("gateway_offline_too_long")
    if not _pass_opens(view, door_id, verified):
        return deny("wrong_door_group")
    if verified.single_use and view.pass_used(verified.id):
        return deny("pass_used")
    return Decision(True, "granted", door_id, card, None, at, verified)
