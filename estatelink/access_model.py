"""What the gateway decides access from, and what it decides: frozen, slotted records with their invariants.

Times are aware datetimes (any zone; compared as instants). Validity windows are half-open:
`valid_from <= at < valid_until`, either end None meaning unbounded. Card keys are the canonical `card`
strings the reader codecs produce (drivers.ascii_reader, drivers.wiegand), compared exactly.
"""
from __future__ import annotations

import enum
import typing
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Reason: TypeAlias = Literal[
    "granted", "unknown_card", "expired", "not_yet_valid", "outside_schedule", "wrong_door_group",
    "suspended", "lost", "returned", "anti_passback", "pass_used", "pass_invalid_signature",
    "pass_expired", "gateway_offline_too_long",
]
REASONS: frozenset[str] = frozenset(typing.get_args(Reason))
"""The closed set of decision reasons; stable codes that events, consoles and reports key on."""

PassRejection: TypeAlias = Literal["pass_invalid_signature", "pass_expired", "not_yet_valid"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys, in `datetime.weekday()` order."""


class HolderKind(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"


class CredentialState(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LOST = "lost"
    RETURNED = "returned"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError if the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _check_window(what: str, valid_from: datetime | None, valid_until: datetime | None) -> None:
    for end in (valid_from, valid_until):
        if end is not None and end.utcoffset() is None:
            raise ValueError(f"{what}: validity times must be timezone-aware, got {end!r}")
    if valid_from is not None and valid_until is not None and valid_from >= valid_until:
        raise ValueError(f"{what}: valid_from {valid_from.isoformat()} is not before valid_until "
                         f"{valid_until.isoformat()}")


@dataclass(frozen=True, slots=True)
class Credential:
    """A card and whose it is: the card opens doors of its door groups while active and within its window."""

    card: str
    holder_id: str
    holder_name: str
    holder_kind: HolderKind
    state: CredentialState
    door_groups: frozenset[str]
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        _check_window(f"credential {self.card!r}", self.valid_from, self.valid_until)


@dataclass(frozen=True, slots=True)
class DoorGroup:
    """A named set of doors that credentials are granted (e.g. "block-3", "main-gates")."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class AntiPassback:
    """The door leads `direction` (in or out) of `zone`; an entry reader and an exit reader form a pair.

    A passage older than `reset_after` no longer blocks (None: until a guard clears it), so someone who
    followed a neighbour out yesterday is not refused at the gate today.
    """

    zone: str
    direction: Direction
    reset_after: timedelta | None = None

    def __post_init__(self) -> None:
        if self.reset_after is not None and self.reset_after <= timedelta(0):
            raise ValueError(f"anti-passback zone {self.zone!r}: reset_after must be positive")


@dataclass(frozen=True, slots=True)
class Door:
    """A door: the groups it belongs to, each with the schedule it follows there (None: at all times)."""

    id: str
    name: str
    groups: tuple[tuple[str, str | None], ...]
    anti_passback: AntiPassback | None = None

    def __post_init__(self) -> None:
        ids = [group for group, _ in self.groups]
        if len(set(ids)) != len(ids):
            raise ValueError(f"door {self.id!r}: a door group is listed twice")


Interval: TypeAlias = tuple[time, time]
"""Local start (inclusive) and end (exclusive). End <= start runs past midnight into the next day, so
start == end is 24 hours from start (00:00-00:00: the whole day)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a door group's doors open: weekly local-time intervals (Monday first) in the estate's zone.

    On a holiday date the day's intervals are `holiday_intervals` instead (none: closed all day); an interval
    crossing midnight belongs to the day it starts on, so its early-morning part follows that day's rules.
    """

    id: str
    timezone: str
    weekly: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()
    holiday_intervals: tuple[Interval, ...] = ()

    def __post_init__(self) -> None:
        zone(self.timezone)
        if len(self.weekly) != 7:
            raise ValueError(f"schedule {self.id!r}: weekly needs 7 days, got {len(self.weekly)}")
        for day in (*self.weekly, self.holiday_intervals):
            for start, end in day:
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError(f"schedule {self.id!r}: interval times are local, without a zone")

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The intervals that start on local date `day`."""
        return self.holiday_intervals if day in self.holidays else self.weekly[day.weekday()]


@dataclass(frozen=True, slots=True)
class VisitorPass:
    """A pass central signed for a visitor: the doors and door groups it opens, within its window."""

    id: int
    estate: str
    doors: frozenset[str]
    door_groups: frozenset[str]
    valid_from: datetime
    valid_until: datetime
    single_use: bool

    def __post_init__(self) -> None:
        _check_window(f"visitor pass {self.id}", self.valid_from, self.valid_until)


@dataclass(frozen=True, slots=True)
class Passage:
    """The last anti-passback passage of a holder through a zone."""

    direction: Direction
    at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one tap: `reason` is "granted" exactly when `granted` is true.

    `card` is the card key, or "pass:<id>" for a verified visitor pass ("pass:invalid" when it is not);
    `holder` is the credential's holder id (None for unknown cards and passes).
    """

    granted: bool
    reason: Reason
    door: str
    card: str
    holder: str | None
    at: datetime
    visitor_pass: VisitorPass | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown decision reason {self.reason!r}")
        if self.granted != (self.reason == "granted"):
            raise ValueError(f"granted={self.granted} contradicts reason {self.reason!r}")
