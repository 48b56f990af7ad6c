"""Single use survives a snapshot resync: the snapshot carries the estate's used passes (outside the checksum)
and the cache adds them to the uses it remembers itself, in memory and on disk."""
from __future__ import annotations

import pytest

from gateway.access import AccessCache, RecordError
from gateway.access.sync import parse_snapshot
from tests.access_edge import test_visitor_pass
from tests.access_edge.helpers import estate_records, snapshot
from tests.access_edge.test_visitor_pass import NOON, UNTIL, make

cache = test_visitor_pass.cache
"""A cache loaded with the test estate at version 1."""
tap = test_visitor_pass._tap


def used(*pass_ids: int) -> list[dict]:
    return [{"id": pass_id, "valid_until": UNTIL.isoformat()} for pass_id in pass_ids]


def resync(version: int, *pass_ids: int) -> dict:
    return {**snapshot(version, estate_records()), "used_passes": used(*pass_ids)}


def test_a_pass_used_at_another_gateway_stays_used_after_a_snapshot_resync(cache):
    cache.replace_all(resync(2, 77), synced_at=NOON)
    assert tap(cache, make(77, single_use=True)) == "pass_used"


def test_a_resync_keeps_the_uses_this_gateway_remembers_itself(cache):
    text = make(78, single_use=True)
    assert tap(cache, text) == "granted"
    cache.replace_all(resync(2, 77), synced_at=NOON)
    assert tap(cache, text) == "pass_used"
    assert tap(cache, make(77, single_use=True)) == "pass_used"


def test_a_rebuilt_cache_learns_the_estate_uses_from_central_and_keeps_them_across_a_restart(tmp_path):
    """A cache file moved aside loses the gateway's own uses; central's snapshot brings back those it has heard of."""
    path = tmp_path / "rebuilt.sqlite"
    fresh = AccessCache(path)
    fresh.replace_all(resync(1, 78), synced_at=NOON)
    fresh.close()
    reopened = AccessCache(path)
    try:
        assert tap(reopened, make(78, single_use=True)) == "pass_used"
    finally:
        reopened.close()


def test_used_passes_are_outside_the_checksum(cache):
    plain = snapshot(2, estate_records())
    assert parse_snapshot(resync(2, 77, 78)).checksum == plain["checksum"]
    cache.replace_all(resync(2, 77, 78), synced_at=NOON)
    assert cache.checksum() == plain["checksum"]


@pytest.mark.parametrize("entry", [{"id": 1}, {"id": -1, "valid_until": "2025-06-02T21:00:00+00:00"},
                                   {"id": 1, "valid_until": "2025-06-02T21:00:00"},
                                   {"id": 1, "valid_until": "9999-12-31T23:59:59-01:00"}])
def test_a_snapshot_with_a_malformed_used_pass_is_refused_and_names_it(cache, entry):
    with pytest.raises(RecordError, match=r"snapshot\.used_passes"):
        cache.replace_all({**snapshot(2, estate_records()), "used_passes": [entry]}, synced_at=NOON)
    assert cache.version == 1
