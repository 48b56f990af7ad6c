"""公摊 with a unit whose area is unknown: the common total cannot be split without it, so the whole item is held
for the period (never shared among the others, who would then pay the missing unit's part and, once its area is
recorded, the re-run would bill more than the common total)."""
from __future__ import annotations

from sqlalchemy import select

from central.billing.models import BillLine
from central.registry import units
from tests.billing.conftest import OFFICE, dec, post_run, setup_march


async def shared_lines(engine) -> dict[int, object]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(BillLine.unit_id, BillLine.amount)
                                   .where(BillLine.rule_name == "lobby-power"))).all()
    return {unit_id: amount for unit_id, amount in rows}


async def test_a_unit_without_area_holds_the_shared_item_until_its_area_is_known(engine, demo):
    await setup_march(engine, demo)
    async with engine.begin() as conn:
        unknown = await units.create_unit(conn, OFFICE, "demo", units.UnitCreate(building="3", number="1204"))
    _, first = await post_run(engine, "2025-03")
    assert await shared_lines(engine) == {}
    assert any(h["fee_item"] == "lobby-power" and h["unit_id"] == unknown["id"] for h in first.held)
    assert any(h["fee_item"] == "lobby-power" and h["unit_id"] is None for h in first.held)

    async with engine.begin() as conn:
        await units.update_unit(conn, OFFICE, unknown["id"], units.UnitUpdate(built_area="59.50"))
    await post_run(engine, "2025-03")
    shares = await shared_lines(engine)
    assert set(shares) == {demo["3-1201"], demo["3-1202"], demo["3-1203"], unknown["id"]}
    assert sum(shares.values()) == dec("1049.33")
