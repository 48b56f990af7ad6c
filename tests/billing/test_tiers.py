"""Annual tiers (阶梯价) through bill runs: a bill that crosses a tier boundary is split, household size moves the
boundaries, the count restarts on 1 January under the new year's rule version, and a used version is frozen."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from central.billing import items
from central.billing.errors import Conflict
from central.billing.models import BillLine
from tests.billing.conftest import OFFICE, WATER_TIERS, add_item, dec, local, meter_point, post_run, read


async def lines_of(engine, unit_id: int, period: str) -> list[tuple]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(BillLine).where(BillLine.unit_id == unit_id, BillLine.period == period)
                                   .order_by(BillLine.line_no))).all()
    return [(r.line_no, r.label, r.quantity, r.unit_price, r.amount, r.rule_name, r.rule_version) for r in rows]


async def water(engine, demo, readings: dict[str, list[tuple]], households: dict[str, int]) -> dict:
    async with engine.begin() as conn:
        item = await add_item(conn, "water", "usage_tiered", WATER_TIERS, meter_kind="water")
        await items.set_assignments(conn, OFFICE, item["id"], items.AssignmentsSet(units=[
            items.AssignmentRow(unit_id=demo[unit], household_size=size) for unit, size in households.items()]))
        for unit, taken in readings.items():
            point = await meter_point(conn, f"{unit}-water", unit_id=demo[unit], since=local(2024, 10, 1))
            for at, value in taken:
                await read(conn, point, at, value)
    return item


async def test_a_bill_crossing_a_tier_boundary_is_split_and_households_move_the_boundaries(engine, demo):
    await water(engine, demo, {
        "3-1201": [(local(2025, 1, 1), "0"), (local(2025, 2, 1), "170"), (local(2025, 3, 1), "200")],
        "3-1202": [(local(2025, 1, 1), "0"), (local(2025, 2, 1), "200"), (local(2025, 3, 1), "250")]},
        {"3-1201": 4, "3-1202": 6})
    await post_run(engine, "2025-01")
    await post_run(engine, "2025-02")
    # 170 billed in January, 30 in February: 170..180 at 3.45 and 180..200 at 4.83
    assert await lines_of(engine, demo["3-1201"], "2025-02") == [
        (1, "tier 1 (0 to 180 m³)", dec(10), dec("3.45"), dec("34.50"), "water", "2025"),
        (2, "tier 2 (180 to 260 m³)", dec(20), dec("4.83"), dec("96.60"), "water", "2025")]
    # six people, base four: each boundary moves up 2 x 30; 200..240 at 3.45, 240..250 at 4.83
    assert await lines_of(engine, demo["3-1202"], "2025-02") == [
        (1, "tier 1 (0 to 240 m³)", dec(40), dec("3.45"), dec("138.00"), "water", "2025"),
        (2, "tier 2 (240 to 320 m³)", dec(10), dec("4.83"), dec("48.30"), "water", "2025")]


async def test_the_count_restarts_on_1_january_under_the_new_version(engine, demo):
    item = await water(engine, demo, {"3-1201": [(local(2025, 11, 1), "0"), (local(2025, 12, 1), "170"),
                                                 (local(2026, 1, 1), "190"), (local(2026, 2, 1), "210")]},
                       {"3-1201": 4})
    new_year = {**WATER_TIERS, "tiers": [{"start": "0", "price": "3.60"}, {"start": "180", "price": "5.00"},
                                         {"start": "260", "price": "6.00"}]}
    async with engine.begin() as conn:
        await items.create_rule(conn, OFFICE, item["id"], items.RuleCreate(
            version="2026", effective_from=date(2026, 1, 1), parameters=new_year))
    for period in ("2025-11", "2025-12", "2026-01"):
        await post_run(engine, period)
    unit = demo["3-1201"]
    assert await lines_of(engine, unit, "2025-12") == [
        (1, "tier 1 (0 to 180 m³)", dec(10), dec("3.45"), dec("34.50"), "water", "2025"),
        (2, "tier 2 (180 to 260 m³)", dec(10), dec("4.83"), dec("48.30"), "water", "2025")]
    assert await lines_of(engine, unit, "2026-01") == [
        (1, "tier 1 (0 to 180 m³)", dec(20), dec("3.60"), dec("72.00"), "water", "2026")]

    async with engine.connect() as conn:
        rules = {r["version"]: r for r in await items.list_rules(conn, item_id=item["id"])}
    async with engine.begin() as conn:
        with pytest.raises(Conflict, match="cannot change"):
            await items.update_rule(conn, OFFICE, rules["2025"]["id"], items.RuleUpdate(note="typo"))
    async with engine.connect() as conn:
        with pytest.raises((IntegrityError, DBAPIError), match="add a new version"):
            await conn.execute(text("UPDATE fee_rules SET note = 'x' WHERE id = :id"), {"id": rules["2025"]["id"]})
