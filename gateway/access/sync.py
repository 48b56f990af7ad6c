"""Central's sync messages, checked whole before the cache touches anything: deltas and full snapshots.

    delta    {"from_version": int, "to_version": int (> from_version),
              "upserts": {kind: [record, ...]}, "deletes": {kind: [key, ...]},       (both optional)
              "used_passes": [{"id": int, "valid_until": time}, ...],               (optional)
              "checksum": hex}                                                      (optional)
    snapshot {"version": int, "checksum": hex, "records": {kind: [record, ...]},
              "used_passes": [{"id": int, "valid_until": time}, ...]}                (optional)

Kinds and records are described in estatelink.access_records. Within one message a key appears at most once
per kind (a delta cannot both upsert and delete it). A delta's checksum, when present, is what the records
must hash to after it is applied (central's state at to_version); a snapshot's is required. `used_passes`
relays single-use passes used at the estate's other gateways; a snapshot's carries every one central knows
used and not yet expired (neither is a record: the checksum leaves them out).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.access.errors import RecordError
from estatelink.access_records import KEY_FIELD, KINDS, Record, parse

_CHECKSUM = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Delta:
    """A parsed delta: {kind: {key: record}} upserts, {kind: keys} deletes."""

    from_version: int
    to_version: int
    upserts: dict[str, dict[str, Record]]
    deletes: dict[str, frozenset[str]]
    used_passes: dict[int, datetime] = field(default_factory=dict)
    checksum: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A parsed full snapshot of central's records at `version`."""

    version: int
    checksum: str
    records: dict[str, dict[str, Record]]
    used_passes: dict[int, datetime] = field(default_factory=dict)


def _fail(field: str, message: str, what: str = "delta") -> RecordError:
    return RecordError(what, None, field, message)


def _fields(raw: Any, what: str, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail("", f"must be an object, got {type(raw).__name__}", what)
    if missing := sorted(required - raw.keys()):
        raise _fail(missing[0], "is required", what)
    if unknown := sorted(raw.keys() - required - optional):
        raise _fail(str(unknown[0]), "is not a field", what)
    return raw


def _version(raw: Mapping[str, Any], name: str, what: str) -> int:
    value = raw[name]
    if type(value) is not int or value < 0:
        raise _fail(name, f"must be a non-negative integer, got {value!r}", what)
    return value


def _checksum(value: Any, name: str, what: str) -> str:
    if not isinstance(value, str) or not _CHECKSUM.fullmatch(value):
        raise _fail(name, f"must be 64 lower-case hex digits, got {value!r}", what)
    return value


def _per_kind(raw: Any, name: str, what: str) -> Mapping[str, list[Any]]:
    if not isinstance(raw, Mapping):
        raise _fail(name, f"must be an object of kind -> list, got {type(raw).__name__}", what)
    for kind, items in raw.items():
        if kind not in KINDS:
            raise _fail(f"{name}.{kind}", f"unknown record kind; known: {', '.join(KINDS)}", what)
        if not isinstance(items, list):
            raise _fail(f"{name}.{kind}", f"must be a list, got {type(items).__name__}", what)
    return raw


def _records(raw: Mapping[str, list[Any]]) -> dict[str, dict[str, Record]]:
    out: dict[str, dict[str, Record]] = {}
    interned: dict[frozenset[str], frozenset[str]] = {}
    for kind, items in raw.items():
        table = out[kind] = {}
        for item in items:
            record = parse(kind, item, interned=interned)
            key = item[KEY_FIELD[kind]]
            if key in table:
                raise RecordError(kind, key, None, "appears twice in one message")
            table[key] = record
    return out


def _used_until(item: Any) -> datetime | None:
    """A used_passes entry's valid_until in UTC, or None when the entry is malformed or out of range."""
    if not (isinstance(item, Mapping) and set(item) == {"id", "valid_until"} and type(item["id"]) is int
            and 0 <= item["id"] < 1 << 32 and isinstance(item["valid_until"], str)):
        return None
    try:
        until = datetime.fromisoformat(item["valid_until"])
        return None if until.utcoffset() is None else until.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _used_passes(raw: Any, what: str = "delta") -> dict[int, datetime]:
    if not isinstance(raw, list):
        raise _fail("used_passes", f"must be a list, got {type(raw).__name__}", what)
    used = {}
    for item in raw:
        until = _used_until(item)
        if until is None:
            raise _fail("used_passes", 'entries are {"id": int, "valid_until": time with offset, within years '
                        f"1..9999 in UTC}}, got {item!r}", what)
        used[item["id"]] = until
    return used


def parse_delta(raw: Any) -> Delta:
    """Check and parse a whole delta; RecordError names what is wrong."""
    raw = _fields(raw, "delta", {"from_version", "to_version"}, {"upserts", "deletes", "used_passes", "checksum"})
    from_version, to_version = _version(raw, "from_version", "delta"), _version(raw, "to_version", "delta")
    if to_version <= from_version:
        raise _fail("to_version", f"must be greater than from_version {from_version}, got {to_version}")
    upserts = _records(_per_kind(raw.get("upserts", {}), "upserts", "delta"))
    deletes: dict[str, frozenset[str]] = {}
    for kind, keys in _per_kind(raw.get("deletes", {}), "deletes", "delta").items():
        if not all(isinstance(key, str) for key in keys):
            raise _fail(f"deletes.{kind}", "keys are strings")
        if len(set(keys)) != len(keys) or set(keys) & upserts.get(kind, {}).keys():
            raise _fail(f"deletes.{kind}", "a key appears twice in one delta")
        deletes[kind] = frozenset(keys)
    checksum = raw.get("checksum")
    return Delta(from_version, to_version, upserts, deletes, _used_passes(raw.get("used_passes", [])),
                 None if checksum is None else _checksum(checksum, "checksum", "delta"))


def parse_snapshot(raw: Any) -> Snapshot:
    """Check and parse a whole snapshot; RecordError names what is wrong."""
    raw = _fields(raw, "snapshot", {"version", "checksum", "records"}, {"used_passes"})
    records = _records(_per_kind(raw["records"], "records", "snapshot"))
    return Snapshot(_version(raw, "version", "snapshot"), _checksum(raw["checksum"], "checksum", "snapshot"),
                    {kind: records.get(kind, {}) for kind in KINDS},
                    _used_passes(raw.get("used_passes", []), "snapshot"))
