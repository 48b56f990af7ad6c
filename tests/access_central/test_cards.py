"""Card lifecycle: issue to registry holders, suspend, report lost, replace, return; history, audit, versions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest
from sqlalchemy import select

from central.access import cards, changelog
from central.access.errors import Conflict, Invalid
from central.access.models import AccessRecord
from central.auth.models import AuditEntry
from tests.access_central.conftest import GUARD, OFFICE

PLUS8 = timezone(timedelta(hours=8))


async def issue(conn, demo, card="62E3086CED", **fields):
    body = {"card": card, "resident_id": demo.wang, "door_groups": ["block-3", "gates"], **fields}
    return await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(**body))


async def record_of(conn, card):
    body = await conn.scalar(select(AccessRecord.record).where(AccessRecord.estate == "demo",
                                                               AccessRecord.kind == "credentials",
                                                               AccessRecord.key == card))
    return orjson.loads(body) if body else None


async def test_issue_builds_the_wire_credential_and_audits(engine, demo):
    async with engine.begin() as conn:
        before = (await changelog.versions(conn, "demo"))[0]
        card = await issue(conn, demo, " 62e3086ced ", valid_until=datetime(2027, 1, 1, 8, tzinfo=PLUS8))
        assert card["card"] == "62E3086CED" and card["state"] == "active"
        assert card["access_version"] == before + 1
        assert (card["holder_id"], card["holder_name"], card["holder_kind"]) == (f"r-{demo.wang}", "Wang Fang",
                                                                                  "resident")
        assert await record_of(conn, "62E3086CED") == {
            "card": "62E3086CED", "holder_id": f"r-{demo.wang}", "holder_name": "Wang Fang",
            "holder_kind": "resident", "state": "active", "door_groups": ["block-3", "gates"],
            "valid_from": None, "valid_until": "2027-01-01T00:00:00Z"}
        entry = (await conn.execute(select(AuditEntry).where(AuditEntry.action == "card.issue"))).one()
        assert (entry.actor, entry.estate, entry.entity_id) == ("office-zhao", "demo", str(card["id"]))
        staff_card = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
            card="0001191993", staff_id=demo.zhao, door_groups=["gates"]))
        assert (staff_card["holder_id"], staff_card["holder_kind"]) == (f"s-{demo.zhao}", "staff")


@pytest.mark.parametrize(("fields", "error", "message"), [
    ({"resident_id": None}, ValueError, "exactly one holder"),
    ({"staff_id": 1}, ValueError, "exactly one holder"),
    ({"door_groups": ["block-9"]}, Invalid, "no door group 'block-9'"),
    ({"resident_id": 99999}, Invalid, "no resident with id 99999"),
    ({"valid_from": "2026-01-02T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"}, ValueError, "before"),
])
async def test_issue_refuses_what_the_registry_or_wire_cannot_hold(engine, demo, fields, error, message):
    async with engine.begin() as conn:
        with pytest.raises(error, match=message):
            await issue(conn, demo, **fields)


async def test_the_lifecycle_and_its_history(engine, demo):
    async with engine.begin() as conn:
        card = await issue(conn, demo)
        steps = [("suspend", "suspended"), ("reactivate", "active"), ("report_lost", "lost")]
        versions = [card["access_version"]]
        for action, state in steps:
            done = await cards.act(conn, GUARD if action == "report_lost" else OFFICE, card["id"], action,
                                   cards.CardAction(note=f"{action} note"))
            assert done["state"] == state
            versions.append(done["access_version"])
            assert (await record_of(conn, "62E3086CED"))["state"] == state
        assert versions == list(range(versions[0], versions[0] + 4))  # one version per operation
        assert done["ended_at"] is not None
        with pytest.raises(Conflict, match="is lost"):
            await cards.act(conn, OFFICE, card["id"], "reactivate", cards.CardAction())
        history = await cards.history(conn, card["id"])
        assert [(h["action"], h["actor"]) for h in history] == [
            ("issued", "office-zhao"), ("suspended", "office-zhao"), ("reactivated", "office-zhao"),
            ("lost", "guard-li")]
        actions = [a for (a,) in await conn.execute(select(AuditEntry.action).where(
            AuditEntry.entity == "card").order_by(AuditEntry.id))]
        assert actions == ["card.issue", "card.suspend", "card.reactivate", "card.report_lost"]


async def test_a_lost_key_is_never_live_again_but_a_returned_one_is(engine, demo):
    async with engine.begin() as conn:
        lost = await issue(conn, demo, "AAAA0001")
        await cards.act(conn, OFFICE, lost["id"], "report_lost", cards.CardAction())
        with pytest.raises(Conflict, match="reported lost"):
            await issue(conn, demo, "AAAA0001")
        returned = await issue(conn, demo, "BBBB0002")
        with pytest.raises(Conflict, match="already issued"):
            await issue(conn, demo, "BBBB0002", resident_id=demo.li)
        await cards.act(conn, OFFICE, returned["id"], "return", cards.CardAction())
        again = await issue(conn, demo, "BBBB0002", resident_id=demo.li, door_groups=["block-5"])
        assert again["id"] != returned["id"]
        assert (await record_of(conn, "BBBB0002"))["holder_id"] == f"r-{demo.li}"
        with pytest.raises(Conflict, match="returned"):
            await cards.replace_card(conn, OFFICE, returned["id"], cards.CardReplace(card="CCCC0003"))


async def test_replace_moves_the_holder_to_a_new_card_in_one_version(engine, demo):
    async with engine.begin() as conn:
        old = await issue(conn, demo, "AAAA0001", valid_until=datetime(2027, 1, 1, tzinfo=timezone.utc))
        new = await cards.replace_card(conn, OFFICE, old["id"], cards.CardReplace(card="DDDD0004", note="lost on bus"))
        assert new["access_version"] == old["access_version"] + 1
        assert (new["card"], new["replaces_id"], new["resident_id"], new["door_groups"]) == (
            "DDDD0004", old["id"], demo.wang, ["block-3", "gates"])
        assert new["valid_until"] == datetime(2027, 1, 1, tzinfo=timezone.utc)
        assert (await cards.get_card(conn, old["id"]))["replaced_by_id"] == new["id"]
        assert (await record_of(conn, "AAAA0001"))["state"] == "lost"
        assert (await record_of(conn, "DDDD0004"))["state"] == "active"
        delta = await changelog.delta(conn, "demo", old["access_version"])
        assert sorted(orjson.loads(orjson.dumps(r))["card"] for r in delta["upserts"]["credentials"]) == [
            "AAAA0001", "DDDD0004"]
        damaged = await cards.replace_card(conn, OFFICE, new["id"], cards.CardReplace(card="EEEE0005",
                                                                                        reason="damaged"))
        assert (await cards.get_card(conn, new["id"]))["state"] == "returned"
        assert damaged["state"] == "active"


async def test_update_changes_groups_and_window_and_a_no_op_costs_no_version(engine, demo):
    async with engine.begin() as conn:
        card = await issue(conn, demo)
        same = await cards.update_card(conn, OFFICE, card["id"], cards.CardUpdate(note="only a note"))
        assert (same["access_version"], same["access_changed"]) == (card["access_version"], False)
        changed = await cards.update_card(conn, OFFICE, card["id"], cards.CardUpdate(door_groups=["gates"]))
        assert changed["access_version"] == card["access_version"] + 1
        assert (await record_of(conn, card["card"]))["door_groups"] == ["gates"]
        with pytest.raises(Invalid, match="valid_from must be before"):
            await cards.update_card(conn, OFFICE, card["id"], cards.CardUpdate(
                valid_from=datetime(2030, 1, 1, tzinfo=timezone.utc), valid_until=datetime(2029, 1, 1,
                                                                                          tzinfo=timezone.utc)))
        await cards.act(conn, OFFICE, card["id"], "return", cards.CardAction())
        with pytest.raises(Conflict, match="can no longer be changed"):
            await cards.update_card(conn, OFFICE, card["id"], cards.CardUpdate(note="x"))
