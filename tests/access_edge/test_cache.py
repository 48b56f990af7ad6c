"""The credential cache on disk: deltas in order, refusals that change nothing, resyncs, restarts."""
from __future__ import annotations

import copy
import hashlib
import sqlite3
from datetime import timedelta

import pytest

from gateway.access import (
    AccessCache,
    CacheStorageError,
    ChecksumMismatch,
    OfflineMode,
    OfflinePolicy,
    RecordError,
    VersionMismatch,
    decide,
)
from estatelink.access_records import checksum_of
from tests.access_edge.helpers import estate_records, reference_checksum, snapshot, utc, wire_credential

NOON = utc(2025, 6, 2, 4)  # Monday 12:00 in Shanghai
TAPS = [("b3-lobby", "62E3086CED"), ("b3-lobby", "1A00C3D5E7"), ("gate-in", "62E3086CED"),
        ("office", "0001191993"), ("office", "62E3086CED"), ("b3-lobby", "FFFFFFFFFF")]


@pytest.fixture
def path(tmp_path):
    return tmp_path / "gw" / "access.sqlite"


@pytest.fixture
def cache(path):
    cache = AccessCache(path)
    cache.replace_all(snapshot(1, estate_records()), synced_at=utc(2025, 6, 1))
    yield cache
    cache.close()


def reasons(cache, at=NOON):
    return [decide(cache.view, door, card, at).reason for door, card in TAPS]


def delta(from_version, to_version, **fields):
    return {"from_version": from_version, "to_version": to_version, **fields}


def test_empty_cache():
    cache = AccessCache(":memory:")
    assert (cache.version, cache.last_synced_at) == (0, None)
    assert cache.checksum() == hashlib.sha256(b"").hexdigest()
    assert decide(cache.view, "b3-lobby", "62E3086CED", NOON).reason == "unknown_card"


def test_snapshot_loads_and_hashes_as_documented(cache):
    assert cache.version == 1
    assert cache.checksum() == reference_checksum(estate_records()) == checksum_of(cache.view.records)
    assert reasons(cache) == ["granted", "granted", "granted", "granted", "wrong_door_group", "unknown_card"]
    assert cache.view.counts() == {"credentials": 3, "door_groups": 3, "doors": 4, "schedules": 1}


def test_unreadable_file_is_a_storage_error(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(CacheStorageError, match="unreadable"):
        AccessCache(path)


def test_unreadable_stored_record_is_a_storage_error(cache, path):
    cache.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE credentials SET body = '{\"card\": 1}' WHERE key = '62E3086CED'")
    with pytest.raises(CacheStorageError, match=r"credentials\.door_groups: is required"):
        AccessCache(path)


def test_uses_wal(cache, path):
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_deltas_apply_in_order(cache):
    cache.apply_delta(delta(1, 2, upserts={"credentials": [wire_credential("62E3086CED", "r-1", state="lost")]}),
                      synced_at=utc(2025, 6, 2))
    assert (cache.version, cache.last_synced_at) == (2, utc(2025, 6, 2))
    assert reasons(cache)[0] == "lost"
    cache.apply_delta(delta(2, 5, deletes={"credentials": ["1A00C3D5E7"]},
                            upserts={"credentials": [wire_credential("FFFFFFFFFF", "r-9")]}))
    assert cache.version == 5
    assert reasons(cache)[1] == "unknown_card" and reasons(cache)[5] == "granted"
    cache.apply_delta(delta(5, 6, deletes={"schedules": ["office"]}))
    assert reasons(cache)[3] == "outside_schedule"  # fail secure: the door's schedule is gone
    assert cache.checksum() == checksum_of(cache.view.records)


def test_out_of_order_delta_is_refused_and_changes_nothing(cache):
    before = (cache.version, cache.checksum(), reasons(cache), cache.last_synced_at)
    for stale in (delta(0, 1), delta(2, 3), delta(0, 2)):
        stale["upserts"] = {"credentials": [wire_credential("62E3086CED", "r-1", state="lost")]}
        with pytest.raises(VersionMismatch) as caught:
            cache.apply_delta(stale)
        assert (caught.value.have, caught.value.got) == (1, stale["from_version"])
    assert (cache.version, cache.checksum(), reasons(cache), cache.last_synced_at) == before


def test_delta_is_all_or_nothing(cache):
    before = cache.checksum()
    bad = delta(1, 2, upserts={"credentials": [wire_credential("62E3086CED", "r-1", state="lost"),
                                               {**wire_credential("BADBADBAD0"), "valid_from": "2025-06-01"}]})
    with pytest.raises(RecordError, match=r"credentials\['BADBADBAD0'\]\.valid_from: .*UTC offset"):
        cache.apply_delta(bad)
    assert (cache.version, cache.checksum(), reasons(cache)[0]) == (1, before, "granted")


def test_delta_with_a_stated_checksum_is_checked_after_applying(cache):
    records = estate_records()
    records["credentials"] = [c for c in records["credentials"] if c["card"] != "1A00C3D5E7"]
    right = reference_checksum(records)
    with pytest.raises(ChecksumMismatch):
        cache.apply_delta(delta(1, 2, deletes={"credentials": ["1A00C3D5E7"]}, checksum="0" * 64))
    assert cache.version == 1 and reasons(cache)[1] == "granted"
    cache.apply_delta(delta(1, 2, deletes={"credentials": ["1A00C3D5E7"]}, checksum=right))
    assert cache.version == 2 and cache.checksum() == right


@pytest.mark.parametrize(("bad", "message"), [
    (delta(3, 3), "to_version: must be greater"),
    (delta(-1, 3), "from_version: must be a non-negative integer"),
    ({"to_version": 2}, "from_version: is required"),
    (delta(1, 2, extra=1), "extra: is not a field"),
    (delta(1, 2, upserts={"cards": []}), "upserts.cards: unknown record kind"),
    (delta(1, 2, deletes={"credentials": ["A", "A"]}), "appears twice"),
    (delta(1, 2, upserts={"credentials": [wire_credential("A")]}, deletes={"credentials": ["A"]}),
     "appears twice"),
    (delta(1, 2, checksum="XYZ"), "64 lower-case hex"),
    (delta(1, 2, used_passes=[{"id": 1}]), "used_passes"),
    ([1, 2], "must be an object"),
])
def test_malformed_deltas_are_refused_precisely(cache, bad, message):
    with pytest.raises(RecordError, match=message):
        cache.apply_delta(bad)
    assert cache.version == 1


def test_resync_with_good_checksum_replaces_everything(cache):
    records = {"credentials": [wire_credential("AAAAAAAAAA", "r-7")], "door_groups": [],
               "doors": [{"id": "b3-lobby", "name": "B3", "groups": {"block-3": None}, "anti_passback": None}],
               "schedules": []}
    cache.replace_all(snapshot(40, records), synced_at=utc(2025, 6, 2))
    assert (cache.version, cache.checksum()) == (40, reference_checksum(records))
    assert reasons(cache)[0] == "unknown_card"
    assert decide(cache.view, "b3-lobby", "AAAAAAAAAA", NOON).reason == "granted"


def test_resync_with_bad_checksum_leaves_the_old_cache_intact(cache, path):
    before = (cache.version, cache.checksum(), reasons(cache), cache.last_synced_at)
    records = estate_records()
    records["credentials"][0]["state"] = "lost"
    with pytest.raises(ChecksumMismatch) as caught:
        cache.replace_all(snapshot(2, records, checksum=reference_checksum(estate_records())))
    assert caught.value.computed == reference_checksum(records)
    assert (cache.version, cache.checksum(), reasons(cache), cache.last_synced_at) == before
    cache.close()
    reopened = AccessCache(path)
    assert (reopened.version, reopened.checksum(), reasons(reopened), reopened.last_synced_at) == before
    reopened.close()


def test_snapshot_with_a_bad_record_is_refused(cache):
    records = estate_records()
    records["doors"].append({"id": "x", "name": "X", "groups": {"gates": None},
                             "anti_passback": {"zone": "estate", "direction": "sideways"}})
    with pytest.raises(RecordError, match=r"doors\['x'\]\.anti_passback"):
        cache.replace_all(snapshot(2, records))
    assert cache.version == 1


def test_checksum_ignores_how_central_spelled_equivalent_records(cache):
    records = copy.deepcopy(estate_records())
    records["credentials"][0].update(door_groups=["gates", "block-3", "gates"],
                                     valid_from="2025-06-01T08:00+08:00")
    records["schedules"][0]["weekly"] = {"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]],
                                         "wed": [["08:00", "18:00"]], "thu": [["08:00", "18:00"]],
                                         "fri": [["08:00:00", "18:00:00"], ["08:00", "18:00"]]}
    del records["doors"][0]["anti_passback"]
    canonical = copy.deepcopy(estate_records())
    canonical["credentials"][0]["valid_from"] = "2025-06-01T00:00:00Z"
    cache.replace_all(snapshot(2, records, checksum=reference_checksum(canonical)))
    assert cache.checksum() == reference_checksum(canonical)


def test_restart_gives_the_same_decisions(cache, path):
    suspended = wire_credential("1A00C3D5E7", "r-2", state="suspended")
    cache.apply_delta(delta(1, 2, upserts={"credentials": [suspended]}), synced_at=utc(2025, 6, 2))
    granted_in = decide(cache.view, "gate-in", "62E3086CED", NOON)
    cache.record(granted_in)
    expected = (cache.version, cache.checksum(), cache.last_synced_at, reasons(cache))
    assert expected[3][2] == "anti_passback"  # already inside: the passage was recorded
    cache.close()
    reopened = AccessCache(path)
    assert (reopened.version, reopened.checksum(), reopened.last_synced_at, reasons(reopened)) == expected
    assert reopened.view.records == cache.view.records
    reopened.close()


def test_anti_passback_round_trip_and_forgive(cache, path):
    def tap(door):
        decision = decide(cache.view, door, "62E3086CED", NOON)
        cache.record(decision)
        return decision.reason

    assert [tap("gate-in"), tap("gate-in"), tap("gate-out"), tap("gate-out"), tap("gate-in")] == \
        ["granted", "anti_passback", "granted", "anti_passback", "granted"]
    assert cache.clear_passback("r-1") == 1
    assert tap("gate-in") == "granted"


def test_views_are_consistent_generations(cache):
    old = cache.view
    cache.apply_delta(delta(1, 2, deletes={"credentials": ["62E3086CED"]}))
    assert decide(old, "b3-lobby", "62E3086CED", NOON).reason == "granted"
    assert decide(cache.view, "b3-lobby", "62E3086CED", NOON).reason == "unknown_card"
    assert old.version == 1 and cache.view.version == 2


def test_mark_synced_restarts_the_offline_clock(path):
    cache = AccessCache(path, offline_policy=OfflinePolicy(timedelta(days=3), OfflineMode.DENY_ALL))
    cache.replace_all(snapshot(1, estate_records()), synced_at=NOON - timedelta(days=4))
    assert reasons(cache)[0] == "gateway_offline_too_long"
    with pytest.raises(VersionMismatch):
        cache.mark_synced(2, NOON)
    cache.mark_synced(1, NOON - timedelta(hours=1))
    assert reasons(cache)[0] == "granted"
    cache.close()
    reopened = AccessCache(path, offline_policy=OfflinePolicy(timedelta(days=3), OfflineMode.DENY_ALL))
    assert reopened.last_synced_at == NOON - timedelta(hours=1) and reasons(reopened)[0] == "granted"
    reopened.close()
