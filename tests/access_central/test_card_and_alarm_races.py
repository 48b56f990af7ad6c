"""Cards replaced once and racing changes refused, alarms acknowledged once, CSV cells that never start a formula."""
from __future__ import annotations

import pytest
from sqlalchemy import insert

from central.access import alarms, cards, log
from central.access.errors import Conflict
from central.access.models import Alarm
from estatelink import wire
from tests.access_central.conftest import GUARD, OFFICE


async def issue(conn, demo, card="62E3086CED", **fields):
    body = {"card": card, "resident_id": demo.wang, "door_groups": ["block-3"], **fields}
    return await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(**body))


async def test_a_card_is_replaced_once_only(engine, demo):
    async with engine.begin() as conn:
        old = await issue(conn, demo, "AAAA0001")
        await cards.act(conn, GUARD, old["id"], "report_lost", cards.CardAction())
        await cards.replace_card(conn, OFFICE, old["id"], cards.CardReplace(card="BBBB0002"))
        with pytest.raises(Conflict, match="already replaced"):
            await cards.replace_card(conn, OFFICE, old["id"], cards.CardReplace(card="CCCC0003"))


async def test_the_replacement_of_a_suspended_card_stays_suspended(engine, demo):
    async with engine.begin() as conn:
        old = await issue(conn, demo, "AAAA0001")
        await cards.act(conn, OFFICE, old["id"], "suspend", cards.CardAction())
        new = await cards.replace_card(conn, OFFICE, old["id"], cards.CardReplace(card="BBBB0002", reason="damaged"))
        assert new["state"] == "suspended"


async def test_a_stale_read_cannot_change_a_card_twice(engine, demo, monkeypatch):
    async with engine.begin() as conn:
        card = await issue(conn, demo)
        stale = await cards.get_card(conn, card["id"])
        await cards.act(conn, OFFICE, card["id"], "report_lost", cards.CardAction())
        real = cards.get_card
        calls = []

        async def racing(conn, card_id):  # the second request read the card before the first committed
            calls.append(card_id)
            return stale if len(calls) == 1 else await real(conn, card_id)
        monkeypatch.setattr(cards, "get_card", racing)
        with pytest.raises(Conflict):
            await cards.act(conn, OFFICE, card["id"], "suspend", cards.CardAction())


async def test_an_alarm_is_acknowledged_once_even_by_racing_guards(engine, demo, monkeypatch):
    async with engine.begin() as conn:
        alarm_id = (await conn.execute(insert(Alarm).values(
            estate="demo", gateway="gate-1", event_seq=1, kind="door.forced", device="r", door="gate-in",
            at=wire.utc_now(), data={}, state="open", comment="").returning(Alarm.id))).scalar_one()
        stale = await alarms.get_alarm(conn, alarm_id)
        await alarms.acknowledge(conn, GUARD, alarm_id, alarms.Acknowledge())
        real, calls = alarms.get_alarm, []

        async def racing(conn, alarm_id):
            calls.append(alarm_id)
            return stale if len(calls) == 1 else await real(conn, alarm_id)
        monkeypatch.setattr(alarms, "get_alarm", racing)
        with pytest.raises(Conflict, match="already acknowledged"):
            await alarms.acknowledge(conn, OFFICE, alarm_id, alarms.Acknowledge())
        assert (await real(conn, alarm_id))["acknowledged_by"] == "guard-li"


@pytest.mark.parametrize("value", ["=HYPERLINK(\"x\")", "+1", "-1+2", "@SUM(A1)", " =1+1", "\n=1+1", "\uff1d1+1"])
def test_csv_cells_never_start_a_formula(value):
    cell = log._csv([[value]]).decode().strip().strip('"')
    assert cell.startswith("'")
