"""The outbox on real SQLite files: numbering that never goes back, acks, reads, envelopes, and the size limit."""
from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from drivers.base import DeviceEvent
from estatelink import wire
from gateway.outbox import Captured, Outbox, PendingEvent
from tests.support.services import REPO

RECEIVED = datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=timezone.utc)
TOMBSTONE = "outbox.dropped"


def card(n: int) -> PendingEvent:
    return PendingEvent("main-gate-reader", DeviceEvent("card.read", {"card": f"{n:010X}", "format": "em4100"}),
                        RECEIVED)


def meter(n: int) -> PendingEvent:
    return PendingEvent("water-meter-1", DeviceEvent("meter.reading", {"m3": n}), RECEIVED)


@contextmanager
def opened(path: Path, max_events: int = 1_000_000) -> Iterator[Outbox]:
    box = Outbox(path, estate="demo", gateway="gate-1", max_events=max_events)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.sqlite"


def seqs(rows: list[Captured]) -> list[int]:
    return [row.seq for row in rows]


def everything(box: Outbox) -> list[Captured]:
    return box.read_after(0, limit=1_000_000)


def envelope(row: Captured) -> wire.Envelope:
    return wire.Envelope.model_validate_json(row.body)


# --- numbering --------------------------------------------------------------------------------

def test_sequence_numbers_start_at_one_and_survive_close_and_reopen(path):
    with opened(path) as box:
        assert box.next_seq == 1 and box.acked == 0
        assert seqs(box.append_many([card(1), card(2), meter(3)])) == [1, 2, 3]
    with opened(path) as box:
        assert (box.next_seq, box.acked, box.depth) == (4, 0, 3)
        assert seqs(box.append_many([card(4)])) == [4]
        assert seqs(box.append_many([meter(5), card(6)])) == [5, 6]
        assert seqs(everything(box)) == [1, 2, 3, 4, 5, 6]
    with opened(path) as box:
        assert [envelope(row).seq for row in everything(box)] == [1, 2, 3, 4, 5, 6]


def test_numbering_continues_after_every_row_was_acked_and_deleted(path):
    with opened(path) as box:
        box.append_many([card(1), card(2), card(3)])
        assert box.ack(3) == 3
        assert everything(box) == [] and box.depth == 0
    with opened(path) as box:
        assert (box.next_seq, box.acked, box.depth) == (4, 3, 0)
        (row,) = box.append_many([card(4)])
        assert row.seq == 4 and envelope(row).seq == 4
        box.ack(4)
    with opened(path) as box:
        assert seqs(box.append_many([card(5), card(6)])) == [5, 6]


# --- acks -------------------------------------------------------------------------------------

def test_ack_deletes_up_to_the_number_and_persists_acked(path):
    with opened(path) as box:
        box.append_many([card(n) for n in range(1, 6)])
        assert box.ack(3) == 3
        assert seqs(everything(box)) == [4, 5]
        assert (box.acked, box.depth) == (3, 2)
        assert box.ack(2) == 0, "an older ack deletes nothing"
        assert box.ack(3) == 0, "a repeated ack deletes nothing"
        assert box.acked == 3
    with opened(path) as box:
        assert (box.acked, box.depth, box.next_seq) == (3, 2, 6)
        assert seqs(everything(box)) == [4, 5]
        assert box.ack(5) == 2
        assert everything(box) == []
    with opened(path) as box:
        assert (box.acked, box.depth) == (5, 0)


def test_ack_beyond_the_last_sequence_is_clamped(path):
    with opened(path) as box:
        box.append_many([card(1), card(2), card(3)])
        assert box.ack(100) == 3
        assert (box.acked, box.next_seq, box.depth) == (3, 4, 0)
        assert seqs(box.append_many([card(4)])) == [4], "a clamped ack does not move the numbering"
    with opened(path) as box:
        assert (box.acked, box.next_seq) == (3, 5)
        assert seqs(everything(box)) == [4]


# --- reading ----------------------------------------------------------------------------------

def test_read_after_honours_below_and_limit(path):
    with opened(path) as box:
        box.append_many([card(n) if n % 3 else meter(n) for n in range(1, 11)])
        assert seqs(box.read_after(0)) == list(range(1, 11))
        assert seqs(box.read_after(3)) == list(range(4, 11))
        assert seqs(box.read_after(3, below=7)) == [4, 5, 6]
        assert seqs(box.read_after(0, limit=4)) == [1, 2, 3, 4]
        assert seqs(box.read_after(2, below=9, limit=3)) == [3, 4, 5]
        assert seqs(box.read_after(5, below=6)) == []
        assert seqs(box.read_after(10)) == []
        assert seqs(box.read_after(0, below=1)) == []
        box.ack(4)
        assert seqs(box.read_after(0, limit=2)) == [5, 6], "acked rows are gone"
        assert [row.stream for row in box.read_after(4, below=8)] == ["access", "metering", "access"]


def test_each_body_is_a_valid_envelope_with_the_right_fields(path):
    device_time = datetime(2026, 11, 27, 15, 59, 58, tzinfo=timezone(timedelta(hours=8)))
    pending = [
        card(1),
        PendingEvent("water-meter-1", DeviceEvent("meter.reading", {"m3": 12.5, "register": "total"},
                                                  device_time=device_time), RECEIVED),
        PendingEvent("main-gate", DeviceEvent("door.forced", {"door": "main"}), RECEIVED),
    ]
    with opened(path) as box:
        captured = box.append_many(pending)
        stored = everything(box)
    assert stored == captured, "what read_after returns is exactly what append_many reported"
    envelopes = [envelope(row) for row in captured]
    assert [row.stream for row in captured] == ["access", "metering", "alarm"]
    assert len({e.id for e in envelopes}) == 3 and all(isinstance(e.id, uuid.UUID) for e in envelopes)
    for row, env, item in zip(captured, envelopes, pending):
        assert (env.v, env.estate, env.gateway, env.seq) == (1, "demo", "gate-1", row.seq)
        assert (env.device, env.kind, env.data) == (item.device, item.event.kind, dict(item.event.data))
        assert env.received_at == RECEIVED
        assert env.device_time == item.event.device_time
    assert envelopes[0].device_time is None
    assert envelopes[1].device_time == datetime(2026, 11, 27, 7, 59, 58, tzinfo=timezone.utc)
    assert envelopes[1].data == {"m3": 12.5, "register": "total"}


# --- the size limit ---------------------------------------------------------------------------

def ranges_accounted(rows: list[Captured]) -> set[int]:
    """Every sequence the remaining rows stand for: their own, and the whole run of each tombstone."""
    covered: set[int] = set()
    for row in rows:
        env = envelope(row)
        if env.kind == TOMBSTONE:
            covered.update(range(env.seq, env.data["to_seq"] + 1))
        else:
            covered.add(env.seq)
    return covered


def check_tombstones(rows: list[Captured]) -> None:
    seen: set[int] = set()
    for row in rows:
        env = envelope(row)
        assert row.stream == wire.stream_for_kind(env.kind), f"seq {row.seq} is on the wrong stream"
        if env.kind != TOMBSTONE:
            continue
        to_seq, count = env.data["to_seq"], env.data["count"]
        assert env.device == "gateway"
        assert to_seq > env.seq and count == to_seq - env.seq + 1, env.data
        assert sum(env.data["kinds"].values()) == count
        run = set(range(env.seq, to_seq + 1))
        assert not run & seen, "tombstone runs overlap"
        seen |= run


def test_over_the_limit_droppable_runs_become_tombstones_and_access_events_stay(path):
    rng = random.Random(20261127)
    assigned: list[int] = []
    kinds: dict[int, str] = {}
    cards: dict[int, str] = {}
    with opened(path, max_events=50) as box:
        for block in range(60):
            # Whole runs of metering between access events, one commit per block, as a burst would arrive.
            pending = [card(block * 100 + i) for i in range(rng.randint(0, 2))]
            pending += [meter(block * 100 + i) for i in range(rng.randint(2, 8))]
            captured = box.append_many(pending)
            for row, item in zip(captured, pending):
                assigned.append(row.seq)
                kinds[row.seq] = item.event.kind
                if item.event.kind == "card.read":
                    cards[row.seq] = item.event.data["card"]
            rows = everything(box)
            assert box.depth == len(rows)
            if box.depth > box.max_events:
                plain = [r.seq for r in rows if r.stream not in ("access", "alarm") and envelope(r).kind != TOMBSTONE]
                assert not any(b == a + 1 for a, b in zip(plain, plain[1:])), (
                    f"over the limit ({box.depth} rows) yet droppable runs remain: {plain}")

        rows = everything(box)
        stats = box.stats()

    assert assigned == list(range(1, len(assigned) + 1))
    check_tombstones(rows)
    by_seq = {row.seq: envelope(row) for row in rows}
    # Every access event is still there, untouched.
    for seq, number in cards.items():
        assert seq in by_seq and by_seq[seq].kind == "card.read" and by_seq[seq].data["card"] == number
    # Remaining rows plus tombstone runs account for every sequence ever assigned, each exactly once.
    assert ranges_accounted(rows) == set(assigned)
    tombstones = [e for e in by_seq.values() if e.kind == TOMBSTONE]
    assert tombstones, "the limit was passed many times, so something must have been dropped"
    dropped = sum(t.data["count"] for t in tombstones)
    assert dropped == sum(1 for s in assigned if kinds[s] == "meter.reading") - sum(
        1 for e in by_seq.values() if e.kind == "meter.reading")
    kinds_dropped: Counter[str] = Counter()
    for tombstone in tombstones:
        kinds_dropped.update(tombstone.data["kinds"])
    assert kinds_dropped == {"meter.reading": dropped}
    assert stats["dropped_total"] == dropped
    assert stats["depth"] == len(rows)
    with opened(path, max_events=50) as box:
        assert box.stats()["dropped_total"] == dropped, "dropped_total survives a restart"
        assert box.next_seq == len(assigned) + 1


def test_acks_after_tombstoning_leave_the_rest_accounted(path):
    with opened(path, max_events=50) as box:
        box.append_many([card(n) for n in range(1, 11)])              # 1..10
        box.append_many([meter(n) for n in range(11, 51)])            # 11..50
        box.append_many([card(n) for n in range(51, 61)])             # 51..60, over the limit
        rows = everything(box)
        (tomb,) = [envelope(r) for r in rows if envelope(r).kind == TOMBSTONE]
        assert (tomb.seq, tomb.data["to_seq"], tomb.data["count"]) == (11, 50, 40)
        assert tomb.data["kinds"] == {"meter.reading": 40}
        assert box.depth == 21
        box.ack(10)
        assert ranges_accounted(everything(box)) == set(range(11, 61))
        box.ack(50)
        assert seqs(everything(box)) == list(range(51, 61))
        assert box.depth == 10


def test_an_ack_inside_a_tombstoned_run_keeps_the_rest_of_the_run_accounted(path):
    with opened(path, max_events=10) as box:
        box.append_many([meter(n) for n in range(1, 31)])    # 1..30 become one tombstone at seq 1
        (tomb,) = [envelope(r) for r in everything(box)]
        assert (tomb.kind, tomb.seq, tomb.data["to_seq"]) == (TOMBSTONE, 1, 30)
        # Central received the original events 1..5 before they were tombstoned, and acks 5.
        box.ack(5)
        assert ranges_accounted(everything(box)) == set(range(6, 31)), (
            "seqs 6..30 were never sent and are no longer in the outbox: central's ack can never pass 5")


def test_the_limit_never_drops_access_events_even_when_nothing_else_is_left(path):
    with opened(path, max_events=50) as box:
        captured = box.append_many([card(n) for n in range(1, 81)])
        assert box.depth == 80
        assert seqs(everything(box)) == seqs(captured)
        assert box.stats()["dropped_total"] == 0


HANG_SCRIPT = textwrap.dedent("""
    import json, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from drivers.base import DeviceEvent
    from gateway.outbox import Outbox, PendingEvent
    box = Outbox(Path(sys.argv[1]), estate="demo", gateway="gate-1", max_events=10)
    now = datetime.now(timezone.utc)
    for i in range(1, 41):
        kind = "card.read" if i % 2 else "meter.reading"
        box.append_many([PendingEvent("dev", DeviceEvent(kind, {"i": i}), now)])
    print(json.dumps([[r.seq, r.body.decode()] for r in box.read_after(0, limit=1000)]))
""")


def test_interleaved_access_and_metering_over_the_limit_does_not_hang(path):
    path.parent.mkdir(parents=True)
    # In a child process: a hang must not take the test run with it (subprocess.run kills it on timeout).
    try:
        done = subprocess.run([sys.executable, "-c", HANG_SCRIPT, str(path)], cwd=REPO, capture_output=True,
                              timeout=4)  # it takes about 0.3 s when it works
    except subprocess.TimeoutExpired:
        pytest.fail("appending alternating card.read / meter.reading events past max_events=10 never returned")
    assert done.returncode == 0, done.stderr.decode()
    rows = json.loads(done.stdout)
    bodies = [wire.Envelope.model_validate_json(body) for _, body in rows]
    assert sorted(e.seq for e in bodies if e.kind == "card.read") == list(range(1, 41, 2))
    covered = set()
    for e in bodies:
        covered.update(range(e.seq, e.data["to_seq"] + 1) if e.kind == TOMBSTONE else [e.seq])
    assert covered == set(range(1, 41))


# --- fast forward -----------------------------------------------------------------------------

def test_fast_forward_moves_numbering_past_a_number_and_survives_reopen(path):
    with opened(path) as box:
        box.append_many([card(1), card(2), card(3)])
        box.ack(3)
        box.fast_forward(100)                           # central's ack says it holds up to 100
        assert (box.next_seq, box.acked) == (101, 100)
        (row,) = box.append_many([card(101)])
        assert row.seq == 101 and envelope(row).seq == 101
        box.fast_forward(50)
        assert (box.next_seq, box.acked) == (102, 100), "fast_forward never goes back"
    with opened(path) as box:
        assert (box.next_seq, box.acked) == (102, 100)
        assert seqs(everything(box)) == [101]
        assert seqs(box.append_many([card(102)])) == [102]


def test_events_captured_before_a_fast_forward_are_still_delivered(path):
    with opened(path) as box:
        box.append_many([card(1), card(2), card(3)])   # a replaced outbox, numbering from 1 again
        box.fast_forward(100)                           # then central's retained ack says 100
        pending = box.read_after(box.acked)
        assert sorted(envelope(r).data["card"] for r in pending) == [f"{n:010X}" for n in (1, 2, 3)], (
            "the three card reads are neither resendable nor at numbers central does not already hold")
        assert all(r.seq > 100 and envelope(r).seq == r.seq for r in pending)


# --- stats ------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_stats_report_depth_age_numbering_and_drops(path, monkeypatch):
    clock = FakeClock(1_800_000_000.0)
    monkeypatch.setattr("gateway.outbox.time", clock)
    with opened(path, max_events=50) as box:
        assert box.stats() == {"depth": 0, "oldest_unsent_age_s": 0.0, "next_seq": 1, "acked": 0,
                               "max_events": 50, "dropped_total": 0}
        box.append_many([card(1), card(2)])
        clock.now += 42.5
        box.append_many([meter(n) for n in range(3, 60)])       # 57 meter readings: 59 rows, over the limit
        stats = box.stats()
        assert stats["next_seq"] == 60 and stats["acked"] == 0
        assert stats["oldest_unsent_age_s"] == 42.5
        assert stats["dropped_total"] == 57
        assert stats["depth"] == 3                                # two cards and one tombstone
        clock.now += 10
        box.ack(2)
        stats = box.stats()
        assert (stats["depth"], stats["acked"]) == (1, 2)
        assert stats["oldest_unsent_age_s"] == 10.0, "age of the oldest row still waiting (the tombstone)"
        box.ack(59)
        assert box.stats()["oldest_unsent_age_s"] == 0.0


def test_a_failure_while_making_room_leaves_the_events_captured_and_the_outbox_usable(path, monkeypatch):
    import sqlite3
    with opened(path, max_events=3) as box:
        real, failures = box._insert_tombstone, []

        def failing_once(*args):
            if not failures:
                failures.append(args)
                raise sqlite3.OperationalError("disk I/O error")
            return real(*args)

        monkeypatch.setattr(box, "_insert_tombstone", failing_once)
        assert seqs(box.append_many([meter(n) for n in range(1, 6)])) == [1, 2, 3, 4, 5], (
            "the events were committed: a failure making room afterwards must not call them uncaptured")
        assert failures
        assert seqs(box.append_many([card(6)])) == [6], "the outbox was left inside a transaction"
        rows = everything(box)
        check_tombstones(rows)
        assert ranges_accounted(rows) == set(range(1, 7))
        box.ack(6)
        assert everything(box) == [] and box.depth == 0


def test_a_wall_clock_set_back_never_reports_a_negative_age(path, monkeypatch):
    clock = FakeClock(1_800_000_000.0)
    monkeypatch.setattr("gateway.outbox.time", clock)
    with opened(path) as box:
        box.append_many([card(1)])
        clock.now -= 3600                          # NTP steps the clock back an hour
        assert box.stats()["oldest_unsent_age_s"] == 0.0
