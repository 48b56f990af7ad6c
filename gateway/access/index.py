"""The in-memory index decisions read: plain dicts, one generation per cache version.

Central's records are never changed in place. A delta builds a new generation that copies only the kinds it
touches, and the cache swaps it in with one assignment, so a decision running on another thread reads one
version whole, never half a delta. The gateway's own live state (anti-passback passages, used passes) is
shared by every generation: it changes on each granted tap, not by version.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from gateway.access.decide import DEFAULT_OFFLINE_POLICY, OfflinePolicy
from estatelink.access_model import Credential, Door, DoorGroup, Passage, Schedule
from estatelink.access_records import KINDS, Record, key_of


class AccessIndex:
    """One generation of the cache: implements decide.CacheView with dict lookups only."""

    __slots__ = ("_credentials", "_doors", "_groups", "_schedules", "last_synced_at", "offline_policy",
                 "passages", "records", "used_passes", "version")

    def __init__(self, records: Mapping[str, dict[str, Record]] | None = None, *, version: int = 0,
                 last_synced_at: datetime | None = None, offline_policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY,
                 passages: dict[tuple[str, str], Passage] | None = None,
                 used_passes: dict[int, datetime] | None = None) -> None:
        self.version = version
        self.last_synced_at = last_synced_at
        self.offline_policy = offline_policy
        self.records: dict[str, dict[str, Record]] = {kind: (records or {}).get(kind, {}) for kind in KINDS}
        """{kind: {key: record}}; shared with later generations, so never mutate it."""
        self.passages = {} if passages is None else passages
        """{(holder id, zone): last passage}; the cache updates it as taps are recorded."""
        self.used_passes = {} if used_passes is None else used_passes
        """{single-use pass id: its valid_until}; the cache updates it as passes are used and expire."""
        self._credentials: dict[str, Credential] = self.records["credentials"]  # type: ignore[assignment]
        self._doors: dict[str, Door] = self.records["doors"]  # type: ignore[assignment]
        self._schedules: dict[str, Schedule] = self.records["schedules"]  # type: ignore[assignment]
        self._groups: dict[str, DoorGroup] = self.records["door_groups"]  # type: ignore[assignment]

    @classmethod
    def of(cls, items: Iterable[Record], **kwargs: object) -> AccessIndex:
        """An index holding the given records (for tests and tools; the cache loads its own)."""
        by_kind: dict[str, dict[str, Record]] = {kind: {} for kind in KINDS}
        for item in items:
            by_kind[kind_of(item)][key_of(item)] = item
        return cls(by_kind, **kwargs)  # type: ignore[arg-type]

    def credential(self, card: str) -> Credential | None:
        """The credential with this card key, if any."""
        return self._credentials.get(card)

    def door(self, door_id: str) -> Door | None:
        """The door with this id, if any."""
        return self._doors.get(door_id)

    def schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule with this id, if any."""
        return self._schedules.get(schedule_id)

    def door_group(self, group_id: str) -> DoorGroup | None:
        """The door group with this id, if any."""
        return self._groups.get(group_id)

    def last_passage(self, holder_id: str, zone: str) -> Passage | None:
        """The holder's last recorded passage through an anti-passback zone."""
        return self.passages.get((holder_id, zone))

    def pass_used(self, pass_id: int) -> bool:
        """Whether a single-use pass has been used (and has not yet expired)."""
        return pass_id in self.used_passes

    def counts(self) -> dict[str, int]:
        """How many records of each kind."""
        return {kind: len(records) for kind, records in self.records.items()}

    def changed(self, upserts: Mapping[str, Mapping[str, Record]], deletes: Mapping[str, Iterable[str]], *,
                version: int, last_synced_at: datetime | None) -> AccessIndex:
        """A new generation with the changes applied; this one is left as it was."""
        records = dict(self.records)
        for kind in KINDS:
            if upserts.get(kind) or deletes.get(kind):
                table = records[kind] = dict(records[kind])
                for key in deletes.get(kind, ()):
                    table.pop(key, None)
                table.update(upserts.get(kind, {}))
        return self.replaced(records, version=version, last_synced_at=last_synced_at)

    def replaced(self, records: Mapping[str, dict[str, Record]], *, version: int,
                 last_synced_at: datetime | None) -> AccessIndex:
        """A new generation with these records and this generation's live state."""
        return AccessIndex(records, version=version, last_synced_at=last_synced_at,
                           offline_policy=self.offline_policy, passages=self.passages,
                           used_passes=self.used_passes)


def kind_of(record: Record) -> str:
    """The kind a record belongs to."""
    return {Credential: "credentials", DoorGroup: "door_groups", Door: "doors",
            Schedule: "schedules"}[type(record)]
