"""The durable outbox: every event is on disk, with its sequence number, before anyone calls it captured.

SQLite in WAL mode. Sequence numbers are per gateway and survive restarts (kept in `meta`, so they never
go back even when every row has been acked and deleted). Rows leave only through `ack()`.

Size policy (docs/outbox.md): past `max_events`, the oldest events of droppable streams (metering, patrol,
video, system) are replaced by one small `outbox.dropped` tombstone per run of sequence numbers, so central
can account for them and its ack does not stall. Access and alarm events are never dropped.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from drivers.base import DeviceEvent
from estatelink import wire

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    kind TEXT NOT NULL,
    droppable INTEGER NOT NULL,
    captured_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_droppable ON outbox (droppable, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
TOMBSTONE_KIND = "outbox.dropped"
log = logging.getLogger("gateway.outbox")


class OutboxError(Exception):
    """The outbox could not store or read events."""


class OutboxFullError(OutboxError):
    """The disk is full and nothing droppable is left to make room: the event was NOT captured."""


@dataclass(frozen=True, slots=True)
class Captured:
    """An event as the outbox stored it."""

    seq: int
    stream: str
    body: bytes


@dataclass(frozen=True, slots=True)
class PendingEvent:
    device: str
    event: DeviceEvent
    received_at: datetime


class Outbox:
    """Synchronous outbox; the gateway drives it from one worker thread (see AsyncOutbox)."""

    def __init__(self, path: Path, *, estate: str, gateway: str, max_events: int = 1_000_000,
                 synchronous: str = "full") -> None:
        self.path = Path(path)
        self.estate, self.gateway = estate, gateway
        self.max_events = max_events
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        fresh = self._db.execute("SELECT 1 FROM meta WHERE key='next_seq'").fetchone() is None
        self.next_seq = self._meta("next_seq", 1)
        # `sent`: every number this outbox file ever handed to the uplink is <= sent. An ack above it is for
        # events of another (lost or replaced) outbox. An outbox written before `sent` existed trusts all its rows.
        if fresh and self._meta("sent", -1) < 0:
            self._set_meta("sent", 0)
        self.sent = self._meta("sent", self.next_seq - 1)
        self.acked = self._meta("acked", 0)
        self.depth = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        self.dropped_total = self._meta("dropped_total", 0)

    def _meta(self, key: str, default: int) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT INTO meta(key, value) VALUES(?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any failure so the connection is never left mid-transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def append_many(self, pending: list[PendingEvent]) -> list[Captured]:
        """Store events in one transaction, giving each the next sequence number."""
        try:
            return self._append(pending)
        except sqlite3.OperationalError as exc:
            if "full" not in str(exc).lower():
                raise OutboxError(f"outbox {self.path}: {exc}") from exc
            if not self._make_room(len(pending)):
                raise OutboxFullError(f"outbox {self.path}: disk full and nothing droppable left") from exc
            return self._append(pending)

    def _append(self, pending: list[PendingEvent]) -> list[Captured]:
        rows, captured = [], []
        seq, now = self.next_seq, time.time()
        for item in pending:
            stream = wire.stream_for_kind(item.event.kind)
            body = orjson.dumps(wire.envelope_dict(
                estate=self.estate, gateway=self.gateway, seq=seq, device=item.device,
                kind=item.event.kind, data=dict(item.event.data), received_at=item.received_at,
                device_time=item.event.device_time))
            droppable = stream not in wire.NEVER_DROPPED_STREAMS
            rows.append((seq, stream, item.event.kind, droppable, now, body))
            captured.append(Captured(seq, stream, body))
            seq += 1
        with self._transaction():
            self._db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._set_meta("next_seq", seq)
        self.next_seq = seq
        self.depth += len(rows)
        if self.depth > self.max_events:
            try:  # the events are committed: failing to make room now must not report them uncaptured
                self._make_room(self.depth - self.max_events)
            except sqlite3.Error as exc:
                log.error("outbox %s over its limit and could not make room: %s", self.path, exc)
        return captured

    def _make_room(self, wanted: int) -> bool:
        """Replace the oldest runs of droppable events by tombstones until `wanted` rows are freed.

        A droppable event alone between access events cannot be tombstoned for a saving, so it stays: the
        limit may then be exceeded, which is the policy for access and alarm events anyway.
        """
        freed, after = 0, 0
        while freed < wanted:
            victims = self._db.execute(
                "SELECT seq, kind, captured_at FROM outbox WHERE droppable=1 AND kind != ? AND seq > ? "
                "ORDER BY seq LIMIT ?", (TOMBSTONE_KIND, after, max(2 * (wanted - freed), 256))).fetchall()
            if not victims:
                return freed > 0
            freed += self._tombstone_runs(victims)
            after = victims[-1][0]
        return True

    def _tombstone_runs(self, victims: list[tuple[int, str, float]]) -> int:
        runs: list[list[tuple[int, str, float]]] = [[victims[0]]]
        for victim in victims[1:]:
            if victim[0] == runs[-1][-1][0] + 1:
                runs[-1].append(victim)
            else:
                runs.append([victim])
        freed, dropped = 0, 0
        with self._transaction():
            for run in runs:
                if len(run) < 2:
                    continue
                first, last = run[0][0], run[-1][0]
                kinds = dict(Counter(kind for _, kind, _ in run))
                self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first, last))
                self._insert_tombstone(first, last, len(run), kinds, min(c for _, _, c in run))
                freed += len(run) - 1
                dropped += len(run)
            self._set_meta("dropped_total", self.dropped_total + dropped)
        self.dropped_total += dropped
        self.depth -= freed
        return freed

    def _insert_tombstone(self, first: int, last: int, count: int, kinds: dict[str, int],
                          captured_at: float) -> None:
        body = orjson.dumps(wire.envelope_dict(
            estate=self.estate, gateway=self.gateway, seq=first, device="gateway", kind=TOMBSTONE_KIND,
            data={"to_seq": last, "count": count, "kinds": kinds}, received_at=wire.utc_now()))
        self._db.execute("INSERT INTO outbox VALUES (?, 'system', ?, 0, ?, ?)",
                         (first, TOMBSTONE_KIND, captured_at, body))

    def read_after(self, after_seq: int, *, below: int | None = None, limit: int = 500) -> list[Captured]:
        """Events with after_seq < seq < below, oldest first."""
        rows = self._db.execute(
            "SELECT seq, stream, body FROM outbox WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?",
            (after_seq, below if below is not None else self.next_seq, limit)).fetchall()
        return [Captured(seq, stream, body) for seq, stream, body in rows]

    def ack(self, upto: int) -> int:
        """Drop every event up to and including `upto`; returns how many rows left."""
        upto = min(upto, self.next_seq - 1)
        if upto <= self.acked:
            return 0
        with self._transaction():
            straddling = self._db.execute(
                "SELECT seq, captured_at, body FROM outbox WHERE kind = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (TOMBSTONE_KIND, upto)).fetchone()
            deleted = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (upto,)).rowcount
            if straddling:
                data = orjson.loads(straddling[2])["data"]
                if data["to_seq"] > upto:  # central acked into a dropped run: keep the rest of it accounted for
                    self._insert_tombstone(upto + 1, data["to_seq"], data["to_seq"] - upto, data["kinds"],
                                           straddling[1])
                    deleted -= 1
            self._set_meta("acked", upto)
        self.acked = upto
        self.depth -= deleted
        return deleted

    def oldest_captured_at(self) -> float | None:
        row = self._db.execute("SELECT captured_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def stats(self) -> dict[str, Any]:
        oldest = self.oldest_captured_at()
        return {
            "depth": self.depth,
            "oldest_unsent_age_s": round(max(0.0, time.time() - oldest), 3) if oldest else 0.0,
            "next_seq": self.next_seq,
            "acked": self.acked,
            "max_events": self.max_events,
            "dropped_total": self.dropped_total,
        }

    def close(self) -> None:
        self._db.close()

    def mark_sent(self, upto: int) -> None:
        """Record, before the uplink publishes them, that numbers up to `upto` leave this outbox."""
        if upto > self.sent:
            self._set_meta("sent", upto)
            self.sent = upto

    def fast_forward(self, acked_by_central: int) -> None:
        """Central holds numbers beyond any this outbox sent (it was lost or replaced): renumber after them.

        Every event here that was never sent is renumbered, in order, to follow central's ack, so none is
        mistaken for a duplicate of an older event central already holds (and none is deleted by that ack).
        Events up to `sent` did reach central under their numbers and are dropped as acked.
        """
        if acked_by_central <= self.sent:
            return
        rows = self._db.execute(
            "SELECT seq, stream, kind, droppable, captured_at, body FROM outbox ORDER BY seq").fetchall()
        renumbered, seq = [], acked_by_central + 1
        for old_seq, stream, kind, droppable, captured_at, body in rows:
            envelope = orjson.loads(body)
            last = envelope["data"]["to_seq"] if kind == TOMBSTONE_KIND else old_seq
            if last <= self.sent:
                continue  # central stored it under this number: covered by its ack
            envelope["seq"] = seq
            if kind == TOMBSTONE_KIND:
                envelope["data"]["to_seq"] += seq - old_seq
                seq += envelope["data"]["to_seq"] - envelope["seq"]
            renumbered.append((envelope["seq"], stream, kind, droppable, captured_at, orjson.dumps(envelope)))
            seq += 1
        seq = max(seq, self.next_seq)
        with self._transaction():
            self._db.execute("DELETE FROM outbox")
            self._db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)", renumbered)
            self._set_meta("next_seq", seq)
            self._set_meta("acked", acked_by_central)
            self._set_meta("sent", acked_by_central)
        self.next_seq, self.acked, self.sent = seq, acked_by_central, acked_by_central
        self.depth = len(renumbered)
