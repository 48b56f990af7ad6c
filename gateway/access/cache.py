"""The gateway's credential cache: SQLite (WAL) for persistence, an in-memory index for decisions.

Central assigns versions; the cache holds one and moves forward only by a delta from exactly that version
(`apply_delta`) or by a full snapshot whose checksum matches once loaded (`replace_all`). Either is one
SQLite transaction: a refused or failed message leaves disk and memory as they were. After the commit the
new index generation (gateway.access.index) is swapped in, so decisions never touch SQLite.

`last_synced_at` is when central last confirmed the cache current (a delta, a snapshot, or `mark_synced`);
the offline policy counts from it. Anti-passback passages and used single-use passes are the gateway's own
state: `record` writes them after a granted tap, they survive restarts and resyncs, and are not checksummed.

synchronous=NORMAL is the default: in WAL mode a power cut can lose the last commits but never corrupts, and
everything lost is recoverable (central resends from the version the cache reopens at, which is older).
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.access.decide import DEFAULT_OFFLINE_POLICY, OfflinePolicy
from gateway.access.errors import CacheStorageError, ChecksumMismatch, RecordError, VersionMismatch
from gateway.access.index import AccessIndex
from estatelink.access_model import Decision, Direction, Passage
from estatelink.access_records import KINDS, Record, canonical_json, checksum_lines, parse
from gateway.access.sync import parse_delta, parse_snapshot

_SCHEMA = "".join(f"CREATE TABLE IF NOT EXISTS {kind} (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;\n"
                  for kind in KINDS) + """
CREATE TABLE IF NOT EXISTS used_passes (id INTEGER PRIMARY KEY, valid_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS passback (
    holder_id TEXT NOT NULL, zone TEXT NOT NULL, direction TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (holder_id, zone)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


PendingWrite = tuple[str, tuple[Any, ...]]
"""An SQL statement and its arguments, from remember() for store()."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AccessCache:
    """The credential cache; one writer (the gateway's sync task), decisions read `view` from any thread."""

    def __init__(self, path: Path | str, *, offline_policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY,
                 synchronous: str = "normal") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CacheStorageError(f"access cache {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
            self._view = self._load(offline_policy)
        except (sqlite3.Error, RecordError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
            self._db.close()
            raise CacheStorageError(f"access cache {self.path} is unreadable ({exc}); move it aside and resync "
                                    "from central") from exc

    # --- reading ------------------------------------------------------------------------------------------

    @property
    def view(self) -> AccessIndex:
        """The current generation, for decide(); hold on to it for a consistent read."""
        return self._view

    @property
    def version(self) -> int:
        """Central's version the cache holds (0: never synced)."""
        return self._view.version

    @property
    def last_synced_at(self) -> datetime | None:
        """When central last confirmed the cache current."""
        return self._view.last_synced_at

    def checksum(self) -> str:
        """SHA-256 hex of the stored records in the canonical form of estatelink.access_records."""
        try:
            return self._checksum_db()
        except sqlite3.Error as exc:
            raise CacheStorageError(f"access cache {self.path}: {exc}") from exc

    def _checksum_db(self) -> str:
        # bodies are stored canonical and SQLite's BINARY collation orders TEXT as UTF-8 bytes
        return checksum_lines((kind, body) for kind in KINDS
                              for (body,) in self._db.execute(f"SELECT body FROM {kind} ORDER BY key"))

    def _load(self, offline_policy: OfflinePolicy) -> AccessIndex:
        interned: dict[frozenset[str], frozenset[str]] = {}
        records: dict[str, dict[str, Record]] = {}
        for kind in KINDS:
            table = records[kind] = {}
            for key, body in self._db.execute(f"SELECT key, body FROM {kind}"):
                table[key] = parse(kind, orjson.loads(body), interned=interned)
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        synced = meta.get("last_synced_at")
        passages = {(holder, zone): Passage(Direction(direction), datetime.fromisoformat(at))
                    for holder, zone, direction, at in self._db.execute("SELECT * FROM passback")}
        used = {pass_id: datetime.fromtimestamp(until, UTC)
                for pass_id, until in self._db.execute("SELECT id, valid_until FROM used_passes")}
        return AccessIndex(records, version=int(meta.get("version", 0)),
                           last_synced_at=datetime.fromisoformat(synced) if synced else None,
                           offline_policy=offline_policy, passages=passages, used_passes=used)

    # --- syncing ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise CacheStorageError(f"access cache {self.path}: {exc}") from exc
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise CacheStorageError(f"access cache {self.path}: {exc}") from exc
            raise

    def _set_meta(self, version: int, synced_at: datetime) -> None:
        self._db.executemany("INSERT INTO meta(key, value) VALUES(?, ?) "
                             "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                             [("version", str(version)), ("last_synced_at", synced_at.isoformat())])

    def _upsert(self, kind: str, records: dict[str, Record]) -> None:
        self._db.executemany(f"INSERT INTO {kind}(key, body) VALUES(?, ?) "
                             "ON CONFLICT(key) DO UPDATE SET body=excluded.body",
                             [(key, canonical_json(record)) for key, record in records.items()])

    def apply_delta(self, delta: Any, *, synced_at: datetime | None = None) -> None:
        """Apply central's delta atomically; VersionMismatch (ask for a resync) unless it starts at our version."""
        parsed = parse_delta(delta)
        if parsed.from_version != self.version:
            raise VersionMismatch(self.version, parsed.from_version)
        synced_at = _aware(synced_at)
        with self._transaction():
            for kind, keys in parsed.deletes.items():
                self._db.executemany(f"DELETE FROM {kind} WHERE key = ?", [(key,) for key in keys])
            for kind, records in parsed.upserts.items():
                self._upsert(kind, records)
            self._store_used_passes(parsed.used_passes)
            self._set_meta(parsed.to_version, synced_at)
            if parsed.checksum is not None:
                computed = self._checksum_db()
                if computed != parsed.checksum:
                    raise ChecksumMismatch(parsed.checksum, computed)
        self._view.used_passes.update(parsed.used_passes)
        self._view = self._view.changed(parsed.upserts, parsed.deletes, version=parsed.to_version,
                                        last_synced_at=synced_at)

    def replace_all(self, snapshot: Any, *, synced_at: datetime | None = None) -> None:
        """Replace every record with a snapshot; ChecksumMismatch (old cache kept) unless it hashes right.

        The snapshot's used passes join those this gateway remembers: a resync never forgets a use."""
        parsed = parse_snapshot(snapshot)
        synced_at = _aware(synced_at)
        with self._transaction():
            for kind in KINDS:
                self._db.execute(f"DELETE FROM {kind}")
                self._upsert(kind, parsed.records[kind])
            computed = self._checksum_db()
            if computed != parsed.checksum:
                raise ChecksumMismatch(parsed.checksum, computed)
            self._store_used_passes(parsed.used_passes)
            self._set_meta(parsed.version, synced_at)
        self._view.used_passes.update(parsed.used_passes)
        self._view = self._view.replaced(parsed.records, version=parsed.version, last_synced_at=synced_at)

    def _store_used_passes(self, used: dict[int, datetime]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO used_passes(id, valid_until) VALUES(?, ?)",
                             [(pass_id, int(until.timestamp())) for pass_id, until in used.items()])

    def mark_synced(self, version: int, at: datetime | None = None) -> None:
        """Central says `version` is current: restart the offline clock, or VersionMismatch if we are behind."""
        if version != self.version:
            raise VersionMismatch(self.version, version)
        at = _aware(at)
        with self._transaction():
            self._set_meta(version, at)
        self._view = self._view.replaced(self._view.records, version=version, last_synced_at=at)

    # --- the gateway's own state --------------------------------------------------------------------------

    def record(self, decision: Decision) -> None:
        """Remember a granted tap: its anti-passback passage, or its single-use pass as used."""
        write = self.remember(decision)
        if write is not None:
            self.store(write)

    def remember(self, decision: Decision) -> PendingWrite | None:
        """record()'s in-memory half, effective for the next decision at once; returns the write for store()."""
        if not decision.granted:
            return None
        view = self._view
        if decision.visitor_pass is not None:
            granted = decision.visitor_pass
            if not granted.single_use:
                return None
            view.used_passes[granted.id] = granted.valid_until
            return ("INSERT OR IGNORE INTO used_passes(id, valid_until) VALUES(?, ?)",
                    (granted.id, int(granted.valid_until.timestamp())))
        door = view.door(decision.door)
        if door is None or door.anti_passback is None or decision.holder is None:
            return None
        zone, direction = door.anti_passback.zone, door.anti_passback.direction
        view.passages[(decision.holder, zone)] = Passage(direction, decision.at)
        return ("INSERT INTO passback VALUES(?, ?, ?, ?) ON CONFLICT(holder_id, zone) DO UPDATE SET "
                "direction=excluded.direction, at=excluded.at",
                (decision.holder, zone, direction.value, decision.at.isoformat()))

    def store(self, write: PendingWrite) -> None:
        """record()'s on-disk half: persist what remember() returned (the caller's writer thread may run it)."""
        self._write(*write)

    def clear_passback(self, holder_id: str) -> int:
        """Forget a holder's anti-passback passages (a guard's "forgive"); returns how many."""
        passages = self._view.passages
        for key in [key for key in passages if key[0] == holder_id]:
            del passages[key]
        return self._write("DELETE FROM passback WHERE holder_id = ?", (holder_id,))

    def purge_used_passes(self, now: datetime) -> int:
        """Forget single-use passes that have expired by `now`; returns how many.

        Runs on the writer thread while taps add passes on the loop thread: it reads a copy (one C call, so
        atomic under the GIL) and removes what it found expired, never iterating the live dict."""
        now = _aware(now)
        used = self._view.used_passes
        for pass_id, until in used.copy().items():
            if until <= now:
                used.pop(pass_id, None)
        return self._write("DELETE FROM used_passes WHERE valid_until <= ?", (int(now.timestamp()),))

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._transaction():
            return self._db.execute(sql, args).rowcount

    def close(self) -> None:
        """Close the file; the last view stays readable."""
        self._db.close()


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return _utc_now()
    if at.utcoffset() is None:
        raise ValueError(f"sync times must be timezone-aware, got {at!r}")
    return at

