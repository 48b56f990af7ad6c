"""A resident who moves out of the estate keeps door access to the end of the move-out day, then their cards stop;
staff who leave (set inactive) lose theirs at once."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import orjson

from central.access import cards, changelog
from central.registry import residents, staff
from tests.access_central.conftest import OFFICE
from tests.access_central.test_cards import record_of

END_OF_MOVE_OUT_DAY = datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc)  # 1 January 2027 00:00 in Shanghai


async def occupancy_of(conn, resident_id: int) -> dict:
    (occupancy,) = await residents.list_occupancies(conn, resident_id=resident_id)
    return occupancy


async def test_moving_out_ends_the_resident_s_cards_with_the_move_out_day(engine, demo):
    async with engine.begin() as conn:
        open_ended = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
            card="62E3086CED", resident_id=demo.wang, door_groups=["block-3"]))
        later = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
            card="62E3086CEE", resident_id=demo.wang, door_groups=["block-3"],
            valid_until=datetime(2030, 1, 1, tzinfo=timezone.utc)))
        earlier = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
            card="62E3086CEF", resident_id=demo.wang, door_groups=["block-3"],
            valid_until=datetime(2026, 6, 1, tzinfo=timezone.utc)))
        neighbour = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
            card="0000000B01", resident_id=demo.li, door_groups=["block-5"]))
        version = (await changelog.state(conn, "demo"))[0]

        await residents.move_out(conn, OFFICE, (await occupancy_of(conn, demo.wang))["id"],
                                 residents.MoveOut(move_out=date(2026, 12, 31)))

        for made in (open_ended, later):
            card = await cards.get_card(conn, made["id"])
            assert (card["state"], card["valid_until"]) == ("active", END_OF_MOVE_OUT_DAY)
            assert (await record_of(conn, made["card"]))["valid_until"] == "2026-12-31T16:00:00Z"
        assert (await cards.get_card(conn, earlier["id"]))["valid_until"] == datetime(2026, 6, 1, tzinfo=timezone.utc)
        assert (await cards.get_card(conn, neighbour["id"]))["valid_until"] is None
        delta = await changelog.delta(conn, "demo", version)
        assert sorted(orjson.loads(orjson.dumps(r))["card"] for r in delta["upserts"]["credentials"]) == [
            "62E3086CED", "62E3086CEE"]
        assert [h["action"] for h in await cards.history(conn, open_ended["id"])][-1] == "moved_out"


async def test_moving_between_units_of_the_estate_keeps_the_cards(engine, demo):
    async with engine.begin() as conn:
        card = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
            card="62E3086CED", resident_id=demo.wang, door_groups=["block-3"]))
        await residents.add_occupancy(conn, OFFICE, demo.wang, residents.OccupancyCreate(
            unit_id=demo.units["5-101"], relation="tenant", move_in=date(2027, 1, 1)))
        first = [o for o in await residents.list_occupancies(conn, resident_id=demo.wang)
                 if o["unit_id"] == demo.units["3-1201"]][0]
        await residents.move_out(conn, OFFICE, first["id"], residents.MoveOut(move_out=date(2027, 1, 1)))
        assert (await cards.get_card(conn, card["id"]))["valid_until"] is None


async def test_staff_who_leave_lose_their_cards_at_once(engine, demo):
    async with engine.begin() as conn:
        card = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(
            card="0000000C01", staff_id=demo.zhao, door_groups=["gates"]))
        version = (await changelog.state(conn, "demo"))[0]
        await staff.update_staff(conn, OFFICE, demo.zhao, staff.StaffUpdate(phone="13800138000"))
        assert (await cards.get_card(conn, card["id"]))["valid_until"] is None  # an edit is not leaving
        await staff.update_staff(conn, OFFICE, demo.zhao, staff.StaffUpdate(active=False))
        until = (await cards.get_card(conn, card["id"]))["valid_until"]
        assert until is not None and abs(datetime.now(timezone.utc) - until) < timedelta(minutes=1)
        delta = await changelog.delta(conn, "demo", version)
        assert [orjson.loads(orjson.dumps(r))["card"] for r in delta["upserts"]["credentials"]] == ["0000000C01"]
        assert [h["action"] for h in await cards.history(conn, card["id"])][-1] == "left"
