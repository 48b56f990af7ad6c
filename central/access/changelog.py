"""The estate's access version and change log, and the deltas and snapshots built from them.

Every operation that changes the records the gateways hold calls `append` inside its own transaction: the
estate's version grows by one, each changed record is logged under that version (its canonical JSON, or a
delete), and `access_records` is brought to the new state. One operation is one version, so a gateway never
sees half of a card replacement. A record written unchanged is not a change and costs no version.

`delta` folds the log after a version into the latest op per key; `snapshot` reads `access_records` and
splits it into parts small enough for one MQTT message each, with the estate's used single-use passes that
have not expired (not records: outside the checksum) for the last part. Both hand records over as canonical
JSON text, so what the gateways hash is byte for byte what central hashed (estatelink.access_records).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access.models import AccessChange, AccessRecord, AccessVersion, VisitorPass
from estatelink import wire
from estatelink.access_records import KINDS, Record, canonical_json, checksum_lines

MAX_CREDENTIALS_PER_PART = 2000
USED_PASS = "used_pass"
"""The change-log kind of a single-use visitor pass used at one of the estate's gateways."""
PART_BUDGET_BYTES = wire.MAX_PAYLOAD_BYTES - 64 * 1024
"""Room left for the command envelope around a part's records."""
_IN_LIMIT = 1000
"""Keys per IN list: SQLite allows 32,766 parameters a statement, and two go to each key."""


@dataclass(frozen=True, slots=True)
class Change:
    """A record to upsert, or (record None) a key to delete."""

    kind: str
    key: str
    record: Record | None


class Logged(NamedTuple):
    """What `append` did: the estate's version after it, and whether that is a new one."""

    version: int
    changed: bool

    def fields(self) -> dict[str, Any]:
        """The answer fields a change reports: the version the gateways will reach, and if it is new."""
        return {"access_version": self.version, "access_changed": self.changed}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The estate's records at `version`, in parts of {kind: [record JSON text]}."""

    version: int
    checksum: str
    parts: list[dict[str, list[str]]]
    used_passes: list[str] = field(default_factory=list)
    """JSON texts {"id", "valid_until"} of used single-use passes not yet expired: the last part's `used_passes`."""


def _insert(conn: AsyncConnection) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


async def versions(conn: AsyncConnection, estate: str) -> tuple[int, int]:
    """(current version, floor) of the estate; (0, 0) before its first change."""
    row = (await conn.execute(select(AccessVersion.version, AccessVersion.floor)
                              .where(AccessVersion.estate == estate))).first()
    return (row.version, row.floor) if row else (0, 0)


def _utc_text(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _next_version(conn: AsyncConnection, estate: str) -> int:
    return (await conn.execute(
        _insert(conn)(AccessVersion).values(estate=estate, version=1, floor=0)
        .on_conflict_do_update(index_elements=["estate"], set_={"version": AccessVersion.version + 1})
        .returning(AccessVersion.version))).scalar_one()


async def append_used_passes(conn: AsyncConnection, estate: str, passes: Mapping[int, datetime]) -> Logged:
    """Log single-use passes used at a gateway under the next version, for the estate's other gateways.

    They travel in deltas as `used_passes` and are not records: the checksum and snapshots leave them out."""
    if not passes:
        return Logged((await versions(conn, estate))[0], False)
    version, now = await _next_version(conn, estate), wire.utc_now()
    await conn.execute(_insert(conn)(AccessChange), [
        {"estate": estate, "version": version, "kind": USED_PASS, "key": str(pass_id), "op": "upsert",
         "record": orjson.dumps({"id": pass_id, "valid_until": _utc_text(until)}).decode(), "at": now}
        for pass_id, until in sorted(passes.items())])
    return Logged(version, True)


async def append(conn: AsyncConnection, estate: str, changes: Iterable[Change]) -> Logged:
    """Log the changes under the estate's next version (the current one stays if nothing changed)."""
    wanted = {(c.kind, c.key): None if c.record is None else canonical_json(c.record) for c in changes}
    if not wanted:
        return Logged((await versions(conn, estate))[0], False)
    stmt = select(AccessRecord.kind, AccessRecord.key, AccessRecord.record).where(AccessRecord.estate == estate)
    if len(wanted) <= _IN_LIMIT:  # else one pass over the estate beats a statement with too many parameters
        stmt = stmt.where(tuple_(AccessRecord.kind, AccessRecord.key).in_(list(wanted)))
    held = {(kind, key): body for kind, key, body in await conn.execute(stmt)}
    effective = {k: body for k, body in wanted.items() if body != held.get(k) and (body is not None or k in held)}
    if not effective:
        return Logged((await versions(conn, estate))[0], False)
    insert = _insert(conn)
    version = await _next_version(conn, estate)
    now = wire.utc_now()
    await conn.execute(insert(AccessChange), [
        {"estate": estate, "version": version, "kind": kind, "key": key, "op": "delete" if body is None else "upsert",
         "record": body, "at": now} for (kind, key), body in effective.items()])
    upserts = [{"estate": estate, "kind": kind, "key": key, "record": body, "version": version}
               for (kind, key), body in effective.items() if body is not None]
    if upserts:
        stmt = insert(AccessRecord)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["estate", "kind", "key"],
            set_={"record": stmt.excluded.record, "version": stmt.excluded.version}), upserts)
    gone = [k for k, body in effective.items() if body is None]
    for start in range(0, len(gone), _IN_LIMIT):
        chunk = gone[start:start + _IN_LIMIT]
        await conn.execute(delete(AccessRecord).where(AccessRecord.estate == estate,
                                                      tuple_(AccessRecord.kind, AccessRecord.key).in_(chunk)))
    return Logged(version, True)


async def delta(conn: AsyncConnection, estate: str, from_version: int,
                to_version: int | None = None) -> dict[str, Any] | None:
    """The `access_delta` args from `from_version` to `to_version` (default: current); None when the log no
    longer reaches back that far. Records are orjson fragments of their canonical text."""
    current, floor = await versions(conn, estate)
    to_version = current if to_version is None else min(to_version, current)
    if from_version < floor or from_version >= to_version:
        return None
    latest: dict[tuple[str, str], str | None] = {}
    rows = await conn.execute(
        select(AccessChange.kind, AccessChange.key, AccessChange.record)
        .where(AccessChange.estate == estate, AccessChange.version > from_version,
               AccessChange.version <= to_version)
        .order_by(AccessChange.version, AccessChange.id))
    for kind, key, body in rows:
        latest[(kind, key)] = body
    upserts: dict[str, list[Any]] = {}
    deletes: dict[str, list[str]] = {}
    used: list[Any] = []
    for (kind, key), body in sorted(latest.items()):
        if kind == USED_PASS:
            used.append(orjson.Fragment(body))
        elif body is None:
            deletes.setdefault(kind, []).append(key)
        else:
            upserts.setdefault(kind, []).append(orjson.Fragment(body))
    args = {"from_version": from_version, "to_version": to_version, "upserts": upserts, "deletes": deletes}
    if used:
        args["used_passes"] = used
    return args


async def records(conn: AsyncConnection, estate: str) -> tuple[int, dict[str, list[tuple[str, str]]]]:
    """(version, {kind: [(key, canonical JSON)]}) of the estate, keys in byte order.

    One statement reads both, so the version is the one the records are at on either database (a statement
    sees one snapshot), however many changes commit meanwhile."""
    held: dict[str, list[tuple[str, str]]] = {kind: [] for kind in KINDS}
    version = 0
    rows = await conn.execute(
        select(AccessVersion.version, AccessRecord.kind, AccessRecord.key, AccessRecord.record)
        .select_from(AccessVersion)
        .outerjoin(AccessRecord, AccessRecord.estate == AccessVersion.estate)
        .where(AccessVersion.estate == estate))
    for version, kind, key, body in rows:
        if kind is not None:
            held.setdefault(kind, []).append((key, body))
    for pairs in held.values():
        pairs.sort(key=lambda pair: pair[0].encode())
    return version, held


def checksum(held: dict[str, list[tuple[str, str]]]) -> str:
    """The checksum estatelink.access_records defines, of records as `records` returns them."""
    return checksum_lines((kind, body) for kind in KINDS for _, body in held.get(kind, []))


async def state(conn: AsyncConnection, estate: str) -> tuple[int, str]:
    """(version, checksum) of the estate's records."""
    version, held = await records(conn, estate)
    return version, checksum(held)


async def used_passes(conn: AsyncConnection, estate: str, now: datetime | None = None) -> list[str]:
    """JSON texts {"id", "valid_until"} of the estate's single-use passes used and not expired by `now`."""
    rows = await conn.execute(
        select(VisitorPass.id, VisitorPass.valid_until)
        .where(VisitorPass.estate == estate, VisitorPass.single_use.is_(True), VisitorPass.used_at.is_not(None),
               VisitorPass.valid_until > (now or wire.utc_now()))
        .order_by(VisitorPass.id))
    return [orjson.dumps({"id": pass_id, "valid_until": _utc_text(until)}).decode() for pass_id, until in rows]


async def snapshot(conn: AsyncConnection, estate: str, *, max_credentials: int = MAX_CREDENTIALS_PER_PART,
                   budget: int = PART_BUDGET_BYTES) -> Snapshot:
    """The estate's records at its current version, split into parts of at most `max_credentials`
    credentials and about `budget` bytes of records each; the used passes (read after the records, so every
    use logged at or before the version is among them) ride on the last part, a part of their own if needed."""
    version, held = await records(conn, estate)
    used = await used_passes(conn, estate)
    parts: list[dict[str, list[str]]] = [{}]
    size = credentials = 0
    for kind in KINDS:
        for _, body in held.get(kind, []):
            cost = len(body.encode()) + 1
            full = size + cost > budget or (kind == "credentials" and credentials >= max_credentials)
            if full and size:
                parts.append({})
                size = credentials = 0
            parts[-1].setdefault(kind, []).append(body)
            size += cost
            credentials += kind == "credentials"
    if size and size + sum(len(body) + 1 for body in used) > budget:
        parts.append({})
    return Snapshot(version, checksum(held), parts, used)


async def compact(conn: AsyncConnection, estate: str, floor: int) -> int:
    """Forget log entries at or below `floor`; deltas from older versions become snapshots. Returns rows deleted."""
    current, old_floor = await versions(conn, estate)
    floor = min(floor, current)
    if floor <= old_floor:
        return 0
    done = await conn.execute(delete(AccessChange).where(AccessChange.estate == estate,
                                                         AccessChange.version <= floor))
    await conn.execute(AccessVersion.__table__.update().where(AccessVersion.estate == estate).values(floor=floor))
    return done.rowcount or 0
