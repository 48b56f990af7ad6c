"""The change log: versions, deltas and snapshots a gateway's cache accepts and hashes exactly as central does."""
from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

from central.access import cards, changelog, doors, groups
from central.access.errors import Conflict
from central.access.models import Card
from central.access.rebuild import rebuild
from central.access.records import card_change
from central.access.remote import command
from central.registry import residents
from estatelink import wire
from estatelink.access_records import checksum_of
from gateway.access import AccessCache
from gateway.access.sync import parse_delta, parse_snapshot
from tests.access_central.conftest import OFFICE


def plain(args: dict) -> dict:
    """What a gateway receives: the args as JSON, fragments and all."""
    return orjson.loads(orjson.dumps(args))


def snapshot_message(snap: changelog.Snapshot) -> dict:
    """The parts put together, as the gateway's access_sync stages them."""
    merged: dict[str, list] = {}
    for part in snap.parts:
        for kind, bodies in part.items():
            merged.setdefault(kind, []).extend(orjson.loads(body) for body in bodies)
    return {"version": snap.version, "checksum": snap.checksum, "records": merged}


async def issue(conn, demo, card, **fields):
    return await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
        card=card, resident_id=demo.wang, door_groups=["block-3"], **fields))


async def test_a_snapshot_and_later_deltas_bring_a_gateway_cache_to_central_checksum(engine, demo, tmp_path):
    cache = AccessCache(tmp_path / "gw" / "access.sqlite")
    async with engine.begin() as conn:
        snap = await changelog.snapshot(conn, "demo")
        parsed = parse_snapshot(snapshot_message(snap))
        assert parsed.version == snap.version == 7 and checksum_of(parsed.records) == snap.checksum
        cache.replace_all(snapshot_message(snap))
        assert (cache.version, cache.checksum()) == await changelog.state(conn, "demo")

        first = await issue(conn, demo, "AAAA0001")
        await issue(conn, demo, "BBBB0002")
        await cards.act(conn, OFFICE, first["id"], "report_lost", cards.CardAction())
        await doors.delete_door(conn, OFFICE, demo.doors["b5-lobby"])
        await doors.update_door(conn, OFFICE, demo.doors["gate-in"], doors.DoorUpdate(name="Main gate (in)"))
        args = plain(await changelog.delta(conn, "demo", snap.version))
        delta = parse_delta(args)
        assert (delta.from_version, delta.to_version) == (7, 12)
        assert sorted(delta.upserts["credentials"]) == ["AAAA0001", "BBBB0002"]  # the latest op per key only
        assert delta.upserts["credentials"]["AAAA0001"].state.value == "lost"
        assert delta.deletes == {"doors": frozenset({"b5-lobby"})}
        cache.apply_delta(args)
        assert (cache.version, cache.checksum()) == await changelog.state(conn, "demo")

        step = plain(await changelog.delta(conn, "demo", 11, 12))  # one version alone, as published
        assert (step["from_version"], step["to_version"], list(step["upserts"])) == (11, 12, ["doors"])
        assert await changelog.delta(conn, "demo", 12) is None  # nothing newer
    cache.close()


async def test_versions_grow_by_one_per_change_and_deletes_are_logged(engine, demo):
    async with engine.begin() as conn:
        version = (await changelog.versions(conn, "demo"))[0]
        group = await groups.create_group(conn, OFFICE, "demo", groups.GroupCreate(code="garage", name="Garage"))
        renamed = await groups.update_group(conn, OFFICE, group["id"], groups.GroupUpdate(name="Car park"))
        unchanged = await groups.update_group(conn, OFFICE, group["id"], groups.GroupUpdate(name="Car park"))
        gone = await groups.delete_group(conn, OFFICE, group["id"])
        assert [group["access_version"], renamed["access_version"], unchanged["access_version"],
                gone["access_version"]] == [version + 1, version + 2, version + 2, version + 3]
        args = plain(await changelog.delta(conn, "demo", version))
        assert args["upserts"] == {} and args["deletes"] == {"door_groups": ["garage"]}
        with pytest.raises(Conflict, match="holds 2 door"):
            await groups.delete_group(conn, OFFICE, demo.groups["block-3"])


async def test_a_live_card_keeps_its_group(engine, demo):
    async with engine.begin() as conn:
        await doors.update_door(conn, OFFICE, demo.doors["b5-lobby"], doors.DoorUpdate(groups={}))
        await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(card="CCCC0003", resident_id=demo.li,
                                                                     door_groups=["block-5"]))
        with pytest.raises(Conflict, match="live card"):
            await groups.delete_group(conn, OFFICE, demo.groups["block-5"])


async def test_compaction_turns_old_versions_into_snapshots(engine, demo):
    async with engine.begin() as conn:
        for n in range(3):
            await issue(conn, demo, f"AAAA000{n}")
        assert await changelog.compact(conn, "demo", 8) > 0
        assert await changelog.versions(conn, "demo") == (10, 8)
        assert await changelog.delta(conn, "demo", 7) is None  # the log no longer reaches back
        later = plain(await changelog.delta(conn, "demo", 8))["upserts"]["credentials"]
        assert [record["card"] for record in later] == ["AAAA0001", "AAAA0002"]


async def test_snapshots_are_split_into_parts_that_fit_one_message(engine, demo, tmp_path):
    async with engine.begin() as conn:
        await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(card="0000000000", resident_id=demo.li))
        rows = [{"estate": "demo", "card": f"{n:010X}", "resident_id": demo.wang, "staff_id": None, "state": "active",
                 "door_groups": ["block-3", "gates"], "valid_from": None, "valid_until": None,
                 "issued_at": wire.utc_now(), "issued_by": "test", "note": ""} for n in range(1, 4501)]
        await conn.execute(Card.__table__.insert(), rows)  # 4,500 cards issued in one bulk operation
        ids = (await conn.execute(select(Card.id).where(Card.card != "0000000000"))).scalars().all()
        await changelog.append(conn, "demo", [await card_change(conn, i) for i in ids])
        snap = await changelog.snapshot(conn, "demo")
        assert [len(p.get("credentials", [])) for p in snap.parts] == [2000, 2000, 501]
        assert "doors" in snap.parts[-1] and "door_groups" in snap.parts[-1]
        small = await changelog.snapshot(conn, "demo", budget=200_000)
        assert len(small.parts) > 3 and all(sum(len(b) + 1 for bodies in p.values() for b in bodies) <= 200_000
                                            for p in small.parts)
        assert snapshot_message(small)["records"] == snapshot_message(snap)["records"]
        expected = await changelog.state(conn, "demo")
    for number, part in enumerate(snap.parts, 1):
        args = {"version": snap.version, "part": number, "parts": len(snap.parts),
                "records": {k: [orjson.Fragment(b) for b in bodies] for k, bodies in part.items()},
                "checksum": snap.checksum}
        assert len(command("access_snapshot", args, "central/access", timedelta(hours=1))[2]) < wire.MAX_PAYLOAD_BYTES
    cache = AccessCache(tmp_path / "gw.sqlite")
    cache.replace_all(snapshot_message(snap))
    assert (cache.version, cache.checksum()) == expected
    assert len(cache.view.records["credentials"]) == 4501
    cache.close()


async def test_rebuild_finds_nothing_after_changes_and_picks_up_a_registry_rename(engine, demo):
    async with engine.begin() as conn:
        card = await issue(conn, demo, "AAAA0001")
        await cards.replace_card(conn, OFFICE, card["id"], cards.CardReplace(card="BBBB0002"))
        returned = await issue(conn, demo, "CCCC0003")
        await cards.act(conn, OFFICE, returned["id"], "return", cards.CardAction())
        await doors.delete_door(conn, OFFICE, demo.doors["b5-lobby"])
        version = (await changelog.versions(conn, "demo"))[0]
        assert await rebuild(conn, "demo") == (version, False)  # every change was logged as the tables say
        await residents.update_resident(conn, OFFICE, demo.wang, residents.ResidentUpdate(name="Wang Fang-Li"))
        assert await rebuild(conn, "demo") == (version + 1, True)
        args = plain(await changelog.delta(conn, "demo", version))
        assert sorted((r["card"], r["holder_name"], r["state"]) for r in args["upserts"]["credentials"]) == [
            ("AAAA0001", "Wang Fang-Li", "lost"), ("BBBB0002", "Wang Fang-Li", "active"),
            ("CCCC0003", "Wang Fang-Li", "returned")]
