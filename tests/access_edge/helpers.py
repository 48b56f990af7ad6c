"""Builders for access records (wire dicts and model objects) and a reference checksum written from the spec."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from gateway.access import (
    AccessIndex,
    AntiPassback,
    Credential,
    CredentialState,
    Direction,
    Door,
    HolderKind,
    OfflinePolicy,
    Schedule,
)

SHANGHAI = "Asia/Shanghai"
SYNCED = datetime(2025, 6, 1, tzinfo=UTC)
MON_NOON = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)  # Monday 12:00 in Shanghai
ALL_WEEK = ((time(0), time(0)),)  # 00:00-00:00 is the whole day


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def credential(card: str = "62E3086CED", *, holder: str = "r-1", kind: HolderKind = HolderKind.RESIDENT,
               state: CredentialState = CredentialState.ACTIVE, groups: tuple[str, ...] = ("block-3",),
               valid_from: datetime | None = None, valid_until: datetime | None = None) -> Credential:
    return Credential(card, holder, f"Holder {holder}", kind, state, frozenset(groups), valid_from, valid_until)


def door(door_id: str = "b3-lobby", groups: dict[str, str | None] | None = None,
         apb: tuple[str, str] | tuple[str, str, timedelta] | None = None) -> Door:
    pairs = tuple(sorted((groups if groups is not None else {"block-3": None}).items()))
    rule = AntiPassback(apb[0], Direction(apb[1]), *apb[2:]) if apb else None
    return Door(door_id, door_id.title(), pairs, rule)


def schedule(schedule_id: str, days: dict[int, list[tuple[str, str]]], *, tz: str = SHANGHAI,
             holidays: frozenset = frozenset(), holiday_intervals: tuple = ()) -> Schedule:
    weekly = tuple(tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in days.get(d, []))
                   for d in range(7))
    return Schedule(schedule_id, tz, weekly, holidays, holiday_intervals)


def index(*records: Any, synced: datetime | None = SYNCED, policy: OfflinePolicy | None = None) -> AccessIndex:
    return AccessIndex.of(records, last_synced_at=synced, offline_policy=policy or OfflinePolicy())


# --- wire records ------------------------------------------------------------------------------------------

def wire_credential(card: str, holder: str = "r-1", *, state: str = "active", groups: list[str] | None = None,
                    kind: str = "resident", valid_from: str | None = None,
                    valid_until: str | None = None) -> dict[str, Any]:
    return {"card": card, "holder_id": holder, "holder_name": f"Holder {holder}", "holder_kind": kind,
            "state": state, "door_groups": sorted(groups if groups is not None else ["block-3"]),
            "valid_from": valid_from, "valid_until": valid_until}


def wire_door(door_id: str, groups: dict[str, str | None], apb: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": door_id, "name": door_id.title(), "groups": groups,
            "anti_passback": None if apb is None else {"reset_after_s": None, **apb}}


def wire_schedule(schedule_id: str, weekly: dict[str, list[list[str]]], *, holidays: list[str] | None = None,
                  holiday_intervals: list[list[str]] | None = None) -> dict[str, Any]:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return {"id": schedule_id, "timezone": SHANGHAI, "weekly": {d: weekly.get(d, []) for d in days},
            "holidays": holidays or [], "holiday_intervals": holiday_intervals or []}


KEYS = {"credentials": "card", "door_groups": "id", "doors": "id", "schedules": "id"}


def reference_checksum(records: dict[str, list[dict[str, Any]]]) -> str:
    """The checksum as estatelink.access_records documents it, for records already in canonical wire form."""
    digest = hashlib.sha256()
    for kind in ("credentials", "door_groups", "doors", "schedules"):
        for record in sorted(records.get(kind, []), key=lambda r, k=KEYS[kind]: r[k].encode("utf-8")):
            body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest.update(f"{kind}\t{body}\n".encode())
    return digest.hexdigest()


def snapshot(version: int, records: dict[str, list[dict[str, Any]]],
             checksum: str | None = None) -> dict[str, Any]:
    return {"version": version, "checksum": checksum or reference_checksum(records), "records": records}


def estate_records() -> dict[str, list[dict[str, Any]]]:
    """A small estate: two blocks, an anti-passback gate pair, an office door on office hours."""
    return {
        "door_groups": [{"id": "block-3", "name": "Block 3"}, {"id": "gates", "name": "Main gates"},
                        {"id": "staff", "name": "Staff areas"}],
        "schedules": [wire_schedule("office", {d: [["08:00:00", "18:00:00"]]
                                               for d in ("mon", "tue", "wed", "thu", "fri")})],
        "doors": [wire_door("b3-lobby", {"block-3": None}),
                  wire_door("gate-in", {"gates": None}, {"direction": "in", "zone": "estate"}),
                  wire_door("gate-out", {"gates": None}, {"direction": "out", "zone": "estate"}),
                  wire_door("office", {"staff": "office"})],
        "credentials": [wire_credential("62E3086CED", "r-1", groups=["block-3", "gates"]),
                        wire_credential("1A00C3D5E7", "r-2", groups=["block-3"]),
                        wire_credential("0001191993", "s-1", kind="staff", groups=["gates", "staff"])],
    }
