"""What the desk and the ledger refuse or round: a discount is at most what is owed (it must never become a credit
to refund), late fees are not assessed for a day that has not come, and a settled unit is neither in credit nor
owing even where SQLite sums cents as floating point."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from central.billing import cashier, charges, late_fees
from central.billing.errors import Conflict, Invalid
from central.billing.ledger import balances, unit_position
from tests.billing.conftest import OFFICE, PLUS8, add_item, dec, post_run, postings_of


async def _charge(conn, unit: int, amount: str) -> int:
    item = await add_item(conn, f"fee-{amount}", "fixed", {"amount": amount})
    return (await charges.charge(conn, OFFICE, unit, charges.ChargeBody(fee_item_id=item["id"])))["id"]


async def _discount(engine, unit: int, amount: str, bill_id: int | None = None) -> dict:
    async with engine.begin() as conn:
        return await cashier.discount(conn, OFFICE, unit, cashier.DiscountBody(amount=amount, bill_id=bill_id,
                                                                               note="goodwill"))


async def test_a_discount_above_what_the_unit_owes_is_refused(engine, demo):
    unit = demo["3-1202"]
    with pytest.raises(Invalid, match=r"^amount: unit 3-1202 owes 0.00; discount at most that$"):
        await _discount(engine, unit, "500.00")
    assert await postings_of(engine, unit) == []

    async with engine.begin() as conn:
        await _charge(conn, unit, "123.45")
    with pytest.raises(Invalid, match="owes 123.45"):
        await _discount(engine, unit, "123.46")
    await _discount(engine, unit, "123.45")
    async with engine.begin() as conn:
        assert (await unit_position(conn, unit)).balance == dec("0.00")
        with pytest.raises(Conflict, match="holds a credit of 0.00"):
            await cashier.refund(conn, OFFICE, unit, cashier.RefundBody(method="cash", amount="0.01", note="cash"))


async def test_a_discount_on_a_named_bill_is_at_most_what_that_bill_still_owes(engine, demo):
    unit = demo["3-1201"]
    async with engine.begin() as conn:
        first, second = await _charge(conn, unit, "100.00"), await _charge(conn, unit, "50.00")
        await cashier.take_payment(conn, OFFICE, unit, cashier.PaymentBody(method="cash", amount="30.00"))
    with pytest.raises(Invalid, match=rf"^amount: bill {first} owes 70.00; discount at most that$"):
        await _discount(engine, unit, "70.01", first)
    await _discount(engine, unit, "70.00", first)
    with pytest.raises(Invalid, match=rf"bill {first} owes 0.00"):
        await _discount(engine, unit, "0.01", first)
    await _discount(engine, unit, "50.00", second)
    async with engine.begin() as conn:
        assert (await unit_position(conn, unit)).balance == dec("0.00")


async def test_late_fees_for_a_day_that_has_not_come_are_refused(engine, demo):
    unit = demo["3-1201"]
    async with engine.begin() as conn:
        await add_item(conn, "garbage", "fixed", {"amount": "15.00"})
    await post_run(engine, "2025-03")  # due 2025-04-30, unpaid
    today = datetime.now(PLUS8).date()
    async with engine.begin() as conn:
        with pytest.raises(Invalid, match=rf"^as_of: {today + timedelta(days=1)} has not come yet in estate demo"):
            await late_fees.assess(conn, OFFICE, "demo", today + timedelta(days=1))
        assert (await late_fees.assess(conn, OFFICE, "demo", today))["bills"] == 3
    fees = [r.due_date for r in await postings_of(engine, unit) if r.kind == "late_fee"]
    assert fees == [today]


async def test_a_settled_unit_is_neither_in_credit_nor_owing(engine, demo):
    """On SQLite, 0.30 - 0.10 - 0.20 sums to -2.8e-17 (cents are stored as REAL)."""
    unit = demo["3-1203"]
    async with engine.begin() as conn:
        await _charge(conn, unit, "0.30")
        for amount in ("0.10", "0.20"):
            await cashier.take_payment(conn, OFFICE, unit, cashier.PaymentBody(method="cash", amount=amount))
    async with engine.connect() as conn:
        assert (await unit_position(conn, unit)).balance == 0
        assert unit not in await balances(conn, "demo", only="credit")
        assert unit not in await balances(conn, "demo", only="debit")
        assert str((await balances(conn, "demo"))[unit]) == "0.00"
