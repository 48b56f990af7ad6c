"""A snapshot carries the estate's used single-use passes that have not expired, on its last part and outside
the checksum, so a gateway resynced by snapshot does not open a used pass again."""
from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import update

from central.access import changelog, passes
from central.access.models import VisitorPass
from estatelink import wire
from gateway.access import AccessCache
from tests.access_central.conftest import GUARD
from tests.access_central.test_events import consume, decision
from tests.access_central.test_sync import sync  # noqa: F401  (fixture)


async def used_passes(engine) -> dict[str, int]:
    """Single-use passes used (one still valid, one expired) and a multi-use one used: {name: id}."""
    async with engine.begin() as conn:
        issued = {name: (await passes.issue_pass(conn, GUARD, "demo", passes.PassIssue(
            visitor_name=name, doors=["gate-in"], single_use=name != "often")))["id"]
            for name in ("once", "expired", "often", "unused")}
    await consume(engine, [decision(n, f"pass:{issued[name]}", True, "granted", pass_id=issued[name])
                           for n, name in enumerate(("once", "expired", "often"), start=1)])
    async with engine.begin() as conn:
        await conn.execute(update(VisitorPass).where(VisitorPass.id == issued["expired"])
                           .values(valid_until=wire.utc_now() - timedelta(minutes=1)))
    return issued


async def test_a_snapshot_carries_used_unexpired_single_use_passes_outside_the_checksum(engine, demo):
    issued = await used_passes(engine)
    async with engine.connect() as conn:
        snap = await changelog.snapshot(conn, "demo")
        _, checksum = await changelog.state(conn, "demo")
    assert [orjson.loads(body)["id"] for body in snap.used_passes] == [issued["once"]]
    assert snap.checksum == checksum


async def test_used_passes_that_would_overfill_the_last_part_get_a_part_of_their_own(engine, demo):
    await used_passes(engine)
    async with engine.connect() as conn:
        whole = await changelog.snapshot(conn, "demo")
        size = sum(len(body) + 1 for bodies in whole.parts[-1].values() for body in bodies)
        tight = await changelog.snapshot(conn, "demo", budget=size)
    assert len(tight.parts) == len(whole.parts) + 1 and tight.parts[-1] == {}
    assert tight.used_passes == whole.used_passes


async def test_a_gateway_resynced_by_snapshot_refuses_a_pass_used_at_another_gateway(
        engine, demo, sync, tmp_path):  # noqa: F811
    issued = await used_passes(engine)
    await sync.send_snapshot("demo", "gate-2", "a test resync")
    [(_, name, args)] = sync.recorder.take()
    assert name == "access_snapshot" and args["part"] == args["parts"]
    assert [entry["id"] for entry in args["used_passes"]] == [issued["once"]]
    cache = AccessCache(tmp_path / "gw.sqlite")
    try:
        cache.replace_all({key: args[key] for key in ("version", "checksum", "records", "used_passes")})
        assert cache.view.pass_used(issued["once"]) and not cache.view.pass_used(issued["often"])
    finally:
        cache.close()
