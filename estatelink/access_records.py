"""Central's access records on the wire: parsing into the model, the canonical form, and the checksum.

Four kinds, each keyed by one field. Every field is required unless marked optional; unknown fields are
errors. Times carry a UTC offset (ISO 8601); times of day are local "HH:MM" or "HH:MM:SS".

    credentials  key card: {"card", "holder_id", "holder_name", "holder_kind": "resident"|"staff",
                 "state": "active"|"suspended"|"lost"|"returned", "door_groups": [group id, ...],
                 "valid_from": time|null (optional), "valid_until": time|null (optional)}
    door_groups  key id:   {"id", "name"}
    doors        key id:   {"id", "name", "groups": {group id: schedule id|null},
                 "anti_passback": {"zone", "direction": "in"|"out", "reset_after_s": seconds|null (optional)}
                 |null (optional)}
    schedules    key id:   {"id", "timezone": IANA name, "weekly": {"mon": [[start, end], ...], ... "sun"},
                 "holidays": ["YYYY-MM-DD", ...] (optional), "holiday_intervals": [[start, end], ...] (optional)}
                 ("weekly" may leave days out: no intervals)

Canonical form (what `checksum` hashes; central computes the same to state a snapshot's checksum):

1. Each record is rewritten with every field present (an omitted optional field is null, or [] for the
   lists; an anti_passback object always has reset_after_s); times become UTC as "YYYY-MM-DDTHH:MM:SSZ",
   with ".ffffff" (6 digits) before the Z only when the microseconds are not zero; times of day become
   "HH:MM:SS"; "weekly" has all seven keys; lists that are sets are de-duplicated and sorted: door_groups
   and holidays as strings, intervals as [start, end] pairs (by start, then end).
2. The record is serialised as JSON with object keys sorted by Unicode code point (nested objects too), no
   whitespace ("," and ":" separators), integers in decimal, non-ASCII characters as raw UTF-8 and only '"',
   '\\' and U+0000..U+001F escaped (\\b \\f \\n \\r \\t, else \\u00xx in lower-case hex): exactly Python's
   `json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
3. Lines "<kind>\\t<canonical JSON>\\n" are concatenated: kinds in the order credentials, door_groups, doors,
   schedules; within a kind, records in ascending order of their key compared as UTF-8 bytes.
4. The checksum is the lower-case hex SHA-256 of those lines encoded as UTF-8. An empty cache hashes b"".

Only central's records count: the gateway's own state (versions, sync times, used passes, anti-passback
passages) is not in the checksum.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NoReturn, TypeAlias

from estatelink.access_model import (
    WEEKDAYS,
    AntiPassback,
    Credential,
    CredentialState,
    Direction,
    Door,
    DoorGroup,
    HolderKind,
    Interval,
    Schedule,
)


class RecordError(ValueError):
    """A record, or the message around it, is malformed; names the kind, key and field."""

    def __init__(self, kind: str, key: str | None, field: str | None, message: str) -> None:
        where = kind + (f"[{key!r}]" if key is not None else "") + (f".{field}" if field else "")
        super().__init__(f"{where}: {message}")
        self.kind, self.key, self.field = kind, key, field

Record: TypeAlias = Credential | DoorGroup | Door | Schedule
KINDS = ("credentials", "door_groups", "doors", "schedules")
"""Record kinds, in checksum order."""
KEY_FIELD = {"credentials": "card", "door_groups": "id", "doors": "id", "schedules": "id"}
MAX_ID = 128
MAX_RESET_S = 366 * 86400

_FIELDS = {
    "credentials": ({"card", "holder_id", "holder_name", "holder_kind", "state", "door_groups"},
                    {"valid_from", "valid_until"}),
    "door_groups": ({"id", "name"}, set()),
    "doors": ({"id", "name", "groups"}, {"anti_passback"}),
    "schedules": ({"id", "timezone", "weekly"}, {"holidays", "holiday_intervals"}),
}
_CLOCK = re.compile(r"(\d\d):(\d\d)(?::(\d\d))?")


class _Fields:
    """Reads one raw record's fields, naming kind, key and field in every error."""

    def __init__(self, kind: str, raw: Any, interned: dict[frozenset[str], frozenset[str]] | None) -> None:
        self.kind, self.interned = kind, interned
        if not isinstance(raw, Mapping):
            raise RecordError(kind, None, None, f"a record is an object, got {type(raw).__name__}")
        self.raw = raw
        self.key = raw.get(KEY_FIELD[kind]) if isinstance(raw.get(KEY_FIELD[kind]), str) else None
        required, optional = _FIELDS[kind]
        if missing := sorted(required - raw.keys()):
            self.fail(missing[0], "is required")
        if unknown := sorted(raw.keys() - required - optional):
            self.fail(str(unknown[0]), "is not a field of this kind")

    def fail(self, field: str | None, message: str) -> NoReturn:
        raise RecordError(self.kind, self.key, field, message)

    def id(self, name: str, value: Any = None, *, label: str | None = None) -> str:
        value = self.raw[name] if value is None else value
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ID or not value.isprintable():
            self.fail(label or name, f"must be a printable string of 1..{MAX_ID} characters, got {value!r}")
        return value

    def card(self) -> str:
        value = self.id("card")
        if not value.isascii() or any(char.isspace() for char in value):
            self.fail("card", f"must be ASCII without spaces (a reader's canonical card id), got {value!r}")
        return value

    def choice(self, name: str, enum: Any) -> Any:
        try:
            return enum(self.raw[name])
        except (ValueError, TypeError):
            self.fail(name, f"must be one of {', '.join(e.value for e in enum)}, got {self.raw[name]!r}")

    def instant(self, name: str) -> datetime | None:
        value = self.raw.get(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
            in_utc = None if parsed is None or parsed.utcoffset() is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail(name, f"must be an ISO 8601 time with a UTC offset, within years 1..9999 in UTC, got {value!r}")
        if in_utc is None:
            self.fail(name, f"must be an ISO 8601 time with a UTC offset, got {value!r}")
        return in_utc

    def strings(self, name: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            self.fail(name, f"must be a list, got {type(value).__name__}")
        return [self.id(name, item) for item in value]

    def clock(self, name: str, value: Any) -> time:
        match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            self.fail(name, f"times of day are 'HH:MM' or 'HH:MM:SS', got {value!r}")
        hour, minute, second = (int(part or 0) for part in match.groups())
        if hour > 23 or minute > 59 or second > 59:
            self.fail(name, f"{value!r} is not a time of day")
        return time(hour, minute, second)

    def intervals(self, name: str, value: Any) -> tuple[Interval, ...]:
        if not isinstance(value, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in value):
            self.fail(name, f"must be a list of [start, end] pairs, got {value!r}")
        return tuple(sorted({(self.clock(name, start), self.clock(name, end)) for start, end in value}))


def _credential(f: _Fields) -> Credential:
    groups = frozenset(f.strings("door_groups", f.raw["door_groups"]))
    if f.interned is not None:  # 100,000 cards share a few dozen group sets: one object each would cost MBs
        groups = f.interned.setdefault(groups, groups)
    args = (f.card(), f.id("holder_id"), f.id("holder_name"), f.choice("holder_kind", HolderKind),
            f.choice("state", CredentialState), groups, f.instant("valid_from"), f.instant("valid_until"))
    try:
        return Credential(*args)
    except ValueError as exc:
        f.fail("valid_until", str(exc))


def _door(f: _Fields) -> Door:
    groups = f.raw["groups"]
    if not isinstance(groups, Mapping):
        f.fail("groups", f"must be an object of group id -> schedule id or null, got {groups!r}")
    pairs = tuple(sorted((f.id("groups", group, label=f"groups[{group!r}]"),
                          None if sched is None else f.id("groups", sched, label=f"groups[{group!r}]"))
                         for group, sched in groups.items()))
    return Door(f.id("id"), f.id("name"), pairs, _anti_passback(f, f.raw.get("anti_passback")))


def _anti_passback(f: _Fields, raw: Any) -> AntiPassback | None:
    if raw is None:
        return None
    fields = raw.keys() if isinstance(raw, Mapping) else set()
    reset = raw.get("reset_after_s") if isinstance(raw, Mapping) else None
    reset_ok = reset is None or (type(reset) is int and 0 < reset <= MAX_RESET_S)
    if not {"zone", "direction"} <= fields <= {"zone", "direction", "reset_after_s"} \
            or raw["direction"] not in ("in", "out") or not reset_ok:
        f.fail("anti_passback", 'must be {"zone": id, "direction": "in"|"out", "reset_after_s": '
               f'1..{MAX_RESET_S}|null}} or null, got {raw!r}')
    return AntiPassback(f.id("anti_passback", raw["zone"]), Direction(raw["direction"]),
                        None if reset is None else timedelta(seconds=reset))


def _schedule(f: _Fields) -> Schedule:
    weekly = f.raw["weekly"]
    if not isinstance(weekly, Mapping) or not set(weekly) <= set(WEEKDAYS):
        f.fail("weekly", f"must be an object with keys among {', '.join(WEEKDAYS)}, got {weekly!r}")
    days = tuple(f.intervals(f"weekly.{day}", weekly.get(day, [])) for day in WEEKDAYS)
    holidays = set()
    for item in f.strings("holidays", f.raw.get("holidays", [])):
        try:
            holidays.add(date.fromisoformat(item))
        except ValueError:
            f.fail("holidays", f"dates are 'YYYY-MM-DD', got {item!r}")
    try:
        return Schedule(f.id("id"), f.id("timezone"), days, frozenset(holidays),
                        f.intervals("holiday_intervals", f.raw.get("holiday_intervals", [])))
    except ValueError as exc:
        f.fail("timezone", str(exc))


_PARSERS = {"credentials": _credential, "door_groups": lambda f: DoorGroup(f.id("id"), f.id("name")),
            "doors": _door, "schedules": _schedule}


def parse(kind: str, raw: Any, *, interned: dict[frozenset[str], frozenset[str]] | None = None) -> Record:
    """Parse one wire record of `kind`; RecordError says which record and field is wrong."""
    if kind not in _PARSERS:
        raise RecordError(kind, None, None, f"unknown record kind; known: {', '.join(KINDS)}")
    return _PARSERS[kind](_Fields(kind, raw, interned))


def key_of(record: Record) -> str:
    """The key a record is stored and ordered under."""
    return record.card if isinstance(record, Credential) else record.id


def _instant(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _pairs(intervals: Iterable[Interval]) -> list[list[str]]:
    return [[start.isoformat(), end.isoformat()] for start, end in sorted(set(intervals))]


def to_wire(record: Record) -> dict[str, Any]:
    """The record in canonical wire form (every field present, sets sorted, times normalised)."""
    if isinstance(record, Credential):
        return {"card": record.card, "holder_id": record.holder_id, "holder_name": record.holder_name,
                "holder_kind": record.holder_kind.value, "state": record.state.value,
                "door_groups": sorted(record.door_groups), "valid_from": _instant(record.valid_from),
                "valid_until": _instant(record.valid_until)}
    if isinstance(record, DoorGroup):
        return {"id": record.id, "name": record.name}
    if isinstance(record, Door):
        apb = record.anti_passback
        reset = None if apb is None or apb.reset_after is None else int(apb.reset_after.total_seconds())
        return {"id": record.id, "name": record.name, "groups": dict(record.groups),
                "anti_passback": None if apb is None else {"zone": apb.zone, "direction": apb.direction.value,
                                                           "reset_after_s": reset}}
    return {"id": record.id, "timezone": record.timezone,
            "weekly": {day: _pairs(intervals) for day, intervals in zip(WEEKDAYS, record.weekly, strict=True)},
            "holidays": sorted(day.isoformat() for day in record.holidays),
            "holiday_intervals": _pairs(record.holiday_intervals)}


def canonical_json(record: Record) -> str:
    """The record's canonical JSON text (step 2 of the canonical form)."""
    return json.dumps(to_wire(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum_lines(lines: Iterable[tuple[str, str]]) -> str:
    """SHA-256 hex of (kind, canonical JSON) pairs already in canonical order (steps 3 and 4)."""
    digest = hashlib.sha256()
    for kind, body in lines:
        digest.update(f"{kind}\t{body}\n".encode())
    return digest.hexdigest()


def checksum_of(records: Mapping[str, Mapping[str, Record]]) -> str:
    """The checksum of records given as {kind: {key: record}} (missing kinds are empty)."""
    return checksum_lines((kind, canonical_json(records[kind][key]))
                          for kind in KINDS if kind in records
                          for key in sorted(records[kind], key=lambda k: k.encode()))
