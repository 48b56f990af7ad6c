"""The cache-sync command handlers behind the CommandRouter: staging snapshot parts, and every way a sync
message can be refused or fail while the cache stays as it was."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from estatelink import wire
from gateway.access import AccessCache
from gateway.access_sync import MAX_SNAPSHOT_PARTS, AccessSync, CacheWriter
from gateway.commands import CommandRouter
from tests.access_edge.helpers import reference_checksum, wire_credential
from tests.access_gateway.support import estate_records


class Sync:
    def __init__(self, cache: AccessCache) -> None:
        self.cache, self.writer, self.router = cache, CacheWriter(), CommandRouter()
        self.sync = AccessSync(cache, self.writer)
        self.sync.register(self.router)

    async def send(self, name: str, **args: Any) -> tuple[str, str]:
        issued = wire.utc_now()
        command = wire.Command(id=uuid.uuid4(), name=name, issuer="central/access", issued_at=issued,
                               expires_at=issued + timedelta(minutes=1), args=args)
        reply = await self.router.handle(name, wire.dumps(command))
        assert reply is not None
        return reply.status, reply.detail


@pytest.fixture
async def sync(tmp_path) -> AsyncIterator[Sync]:
    cache = AccessCache(tmp_path / "access.sqlite")
    harness = Sync(cache)
    yield harness
    harness.writer.close(cache.close)


RECORDS = estate_records()
CHECKSUM = reference_checksum(RECORDS)


async def test_a_snapshot_in_parts_replaces_the_cache_on_its_last_part(sync):
    creds = RECORDS["credentials"]
    rest = {k: v for k, v in RECORDS.items() if k != "credentials"}
    assert await sync.send("access_snapshot", version=5, part=1, parts=3, records={"credentials": creds[:2]}) == (
        "ok", "part 1/3")
    assert await sync.send("access_snapshot", version=5, part=2, parts=3, records={"credentials": creds[2:]}) == (
        "ok", "part 2/3")
    assert sync.cache.version == 0, "nothing changes before the last part"
    assert await sync.send("access_snapshot", version=5, part=3, parts=3, records=rest, checksum=CHECKSUM) == (
        "ok", "part 3/3: version 5")
    assert sync.cache.version == 5 and sync.cache.checksum() == CHECKSUM
    state = await sync.sync.state()
    assert state["version"] == 5 and state["checksum"] == CHECKSUM and state["last_synced_at"]


async def test_a_snapshot_missing_a_part_or_hashing_wrong_keeps_the_old_cache(sync):
    first = await sync.send("access_snapshot", version=1, part=1, parts=1, records=RECORDS, checksum=CHECKSUM)
    assert first == ("ok", "part 1/1: version 1")
    status, detail = await sync.send("access_snapshot", version=2, part=2, parts=2, records=RECORDS, checksum=CHECKSUM)
    assert status == "failed" and "lacks 1 of its 2 part(s) (first missing: 1)" in detail
    assert "unchanged at version 1" in detail
    status, detail = await sync.send("access_snapshot", version=3, part=1, parts=1, records={"credentials": []},
                                     checksum=CHECKSUM)
    assert status == "failed" and "checksum" in detail
    assert sync.cache.version == 1 and sync.cache.checksum() == CHECKSUM


async def test_a_newer_snapshot_supersedes_a_half_received_one(sync):
    await sync.send("access_snapshot", version=2, part=1, parts=2, records={"credentials": RECORDS["credentials"]})
    await sync.send("access_snapshot", version=3, part=1, parts=2, records={"credentials": RECORDS["credentials"]})
    rest = {k: v for k, v in RECORDS.items() if k != "credentials"}
    status, detail = await sync.send("access_snapshot", version=2, part=2, parts=2, records=rest, checksum=CHECKSUM)
    assert status == "failed" and "lacks 1 of its 2 part(s) (first missing: 1)" in detail
    assert sync.cache.version == 0


@pytest.mark.parametrize(("args", "fragment"), [
    ({"version": 1, "part": 3, "parts": 2, "records": {}}, "beyond args.parts"),
    ({"version": 1, "part": 1, "parts": 1, "records": []}, "args.records"),
    ({"version": "1", "part": 1, "parts": 1, "records": {}}, "args.version"),
    ({"version": 1, "part": 1, "parts": 1, "records": {"cards": []}}, "unknown record kind"),
])
async def test_a_malformed_snapshot_fails_with_the_reason(sync, args, fragment):
    status, detail = await sync.send("access_snapshot", checksum=CHECKSUM, **args)
    assert status == "failed" and fragment in detail


async def test_deltas_apply_in_order_and_a_gap_is_refused_with_our_version(sync):
    await sync.send("access_snapshot", version=1, part=1, parts=1, records=RECORDS, checksum=CHECKSUM)
    lost = wire_credential("62E3086CED", "r-1", groups=["lobby"], state="lost")
    assert await sync.send("access_delta", from_version=1, to_version=2,
                           upserts={"credentials": [lost]}) == ("ok", "version 2")
    assert await sync.send("access_delta", from_version=4, to_version=5) == ("refused", "at version 2")
    status, detail = await sync.send("access_delta", from_version=2, to_version=3, checksum="0" * 64)
    assert status == "failed" and "checksum" in detail
    status, detail = await sync.send("access_delta", from_version=2)
    assert status == "failed" and "to_version" in detail
    assert sync.cache.version == 2
    assert sync.cache.view.credential("62E3086CED").state.value == "lost"
    state = await sync.sync.state()
    assert state["checksum"] == sync.cache.checksum(), "recomputed after a delta that stated none"


async def test_current_restarts_the_clock_only_at_our_version(sync):
    assert await sync.send("access_current", version=0) == ("ok", "version 0")
    assert await sync.send("access_current", version=3) == ("refused", "at version 0")
    status, detail = await sync.send("access_current")
    assert status == "failed" and "args.version" in detail


async def test_a_snapshot_with_an_absurd_parts_count_is_refused_at_its_first_part(sync):
    """On the last part the handler walks every part number: 10**9 parts would stall the loop for minutes."""
    status, detail = await sync.send("access_snapshot", version=7, part=1, parts=10**9, records={})
    assert status == "failed" and f"args.parts must be an integer from 1 to {MAX_SNAPSHOT_PARTS}" in detail
    assert sync.sync._staged == {}, "nothing staged"


async def test_a_snapshot_missing_many_parts_names_how_many_and_the_first_few(sync):
    status, detail = await sync.send("access_snapshot", version=7, part=MAX_SNAPSHOT_PARTS,
                                     parts=MAX_SNAPSHOT_PARTS, records=RECORDS, checksum=CHECKSUM)
    assert status == "failed"
    lacking = MAX_SNAPSHOT_PARTS - 1
    assert f"lacks {lacking} of its {MAX_SNAPSHOT_PARTS} part(s) (first missing: 1, 2, 3, 4, 5)" in detail
    assert len(detail) < 200


async def test_a_snapshot_brings_the_estate_used_passes_on_its_last_part(sync):
    used = [{"id": 77, "valid_until": "2099-01-01T00:00:00+00:00"}]
    assert await sync.send("access_snapshot", version=4, part=1, parts=1, records=RECORDS, checksum=CHECKSUM,
                           used_passes=used) == ("ok", "part 1/1: version 4")
    assert sync.cache.view.pass_used(77)
    assert (await sync.sync.state())["checksum"] == CHECKSUM
