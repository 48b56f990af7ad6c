"""The ledger: prepayments settle new bills, the desk's payments and receipts, a late fee, a refund, a discount and
a correction; afterwards every report (SQL sums, ledger_math, statements, arrears) agrees, unit by unit."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from central.billing import cashier, late_fees, reports
from central.billing.errors import Conflict
from central.billing.ledger import BILLED_KINDS, entry, position, unit_rows
from central.billing.ledger_math import Posting, PostingKind, arrears, balance, receivable, received
from central.billing.models import Posting as PostingRow
from tests.billing.conftest import OFFICE, dec, post_run, setup_march

NOW = "2026-11"


def test_billed_kinds_are_what_ledger_math_counts_as_receivable():
    for kind in PostingKind:
        if kind is PostingKind.REVERSAL:
            continue
        amount = Decimal("1.00") if kind in (PostingKind.CHARGE, PostingKind.LATE_FEE, PostingKind.REFUND) else \
            Decimal("-1.00")
        assert (receivable([Posting("1", kind, amount, "u")]) != 0) == (kind in BILLED_KINDS)


async def pay(engine, unit_id: int, amount: str, method: str = "cash", prepayment: bool = False) -> dict:
    async with engine.begin() as conn:
        return await cashier.take_payment(conn, OFFICE, unit_id, cashier.PaymentBody(
            method=method, amount=amount, prepayment=prepayment))


async def assert_reports_agree(engine, unit_ids: list[int]) -> dict[int, Decimal]:
    """Every way of reading the ledger gives the same figures; returns the balances."""
    found = {}
    async with engine.connect() as conn:
        report = await reports.period_report(conn, "demo", NOW, limit=1000)
        by_unit = {u["unit_id"]: u for u in report["items"]}
        for unit_id in unit_ids:
            rows = await unit_rows(conn, unit_id)
            entries = [entry(row) for row in rows]
            owed = balance(entries)
            sql = Decimal(str(await conn.scalar(text("SELECT coalesce(sum(amount), 0) FROM postings "
                                                     "WHERE unit_id = :u"), {"u": unit_id}))).quantize(dec("0.01"))
            statement = await reports.statement(conn, unit_id, "2025-01", NOW)
            figures = by_unit[unit_id]
            state = position(rows)
            assert sql == owed == statement["closing_balance"] == figures["closing"] == figures["arrears"]
            assert receivable(entries) == statement["receivable_to_date"] == figures["receivable_to_date"]
            assert received(entries) == statement["received_to_date"] == figures["received_to_date"]
            assert arrears(entries) == owed == receivable(entries) - received(entries)
            assert statement["opening_balance"] + statement["billed"] - statement["received"] == owed
            assert sum((d.outstanding for d in state.debts), Decimal(0)) - state.credit == owed
            found[unit_id] = owed
        totals = report["totals"]
        assert totals["closing"] == sum(found.values()) == totals["receivable_to_date"] - totals["received_to_date"]
        owing = await reports.arrears_report(conn, "demo", NOW)
        assert owing["total"] == sum(v for v in found.values() if v > 0)
        assert {u["unit_id"] for u in owing["items"]} == {u for u, v in found.items() if v > 0}
    return found


async def test_refund_and_late_fee_leave_every_report_in_agreement(engine, demo):
    u1, u2, u3 = demo["3-1201"], demo["3-1202"], demo["3-1203"]
    await setup_march(engine, demo)
    first = await pay(engine, u3, "1000.00", prepayment=True)
    assert first["receipt_no"] == f"demo-{NOW[:4]}-000001" and first["balance_after"] == dec("-1000.00")

    _, outcome = await post_run(engine, "2025-03")
    assert outcome.settled == dec("426.79")  # 3-1203's prepayment settles its whole bill at once
    async with engine.connect() as conn:
        assert (await reports.statement(conn, u3, "2025-03", NOW))["open"] == []

    assert (await pay(engine, u1, "1104.81", "card"))["receipt_no"] == f"demo-{NOW[:4]}-000002"
    await pay(engine, u2, "500.00", "transfer")
    # 3-1202's bill (608.88, due 2025-04-30) is 108.88 short; 10 days overdue on 10 May: 108.88 x 0.0005 x 10
    async with engine.begin() as conn:
        summary = await late_fees.assess(conn, OFFICE, "demo", date(2025, 5, 10))
    assert (summary["bills"], summary["total"]) == (1, dec("0.54"))
    async with engine.begin() as conn:
        again = await late_fees.assess(conn, OFFICE, "demo", date(2025, 5, 10))
        next_day = await late_fees.assess(conn, OFFICE, "demo", date(2025, 5, 11))
    assert again["bills"] == 0 and (next_day["bills"], next_day["total"]) == (1, dec("0.05"))

    async with engine.begin() as conn:
        with pytest.raises(Conflict, match="credit of 573.21"):
            await cashier.refund(conn, OFFICE, u3, cashier.RefundBody(method="cash", amount="600.00",
                                                                        note="moving out"))
    async with engine.begin() as conn:
        refund = await cashier.refund(conn, OFFICE, u3, cashier.RefundBody(method="cash", amount="100.00",
                                                                             note="moving out"))
        await cashier.discount(conn, OFFICE, u2, cashier.DiscountBody(amount="8.88", note="goodwill"))
    assert refund["purpose"] == "refund" and refund["balance_after"] == dec("-473.21")

    async with engine.connect() as conn:
        water = next(r for r in await unit_rows(conn, u1) if r.kind == "charge" and r.amount == dec("103.50"))
    async with engine.begin() as conn:
        await cashier.reverse(conn, OFFICE, water.id, cashier.ReversalBody(note="meter misread"))
        with pytest.raises(Conflict, match="reversed already"):
            await cashier.reverse(conn, OFFICE, water.id, cashier.ReversalBody(note="twice"))

    balances = await assert_reports_agree(engine, [u1, u2, u3])
    # 3-1202: 608.88 + 0.59 late fees - 500.00 - 8.88 discount = 100.59; 3-1201 is owed the reversed water
    assert balances == {u1: dec("-103.50"), u2: dec("100.59"), u3: dec("-473.21")}
    async with engine.connect() as conn:
        march = {u["unit_id"]: u for u in await reports.period_units(conn, "demo", "2025-03")}
        may = {u["unit_id"]: u for u in await reports.period_units(conn, "demo", "2025-05")}
    assert march[u2]["billed"] == dec("608.88") and may[u2]["billed"] == dec("0.59")
    assert may[u2]["opening"] == dec("608.88") and may[u2]["closing"] == dec("609.47")


async def test_postings_bills_and_payments_cannot_be_changed(engine, demo):
    await setup_march(engine, demo)
    await post_run(engine, "2025-03")
    await pay(engine, demo["3-1201"], "10.00")
    for table in ("postings", "bills", "bill_lines", "payments"):
        async with engine.connect() as conn:
            with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
                await conn.execute(text(f"UPDATE {table} SET id = id"))
            await conn.rollback()
        async with engine.connect() as conn:
            with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
                await conn.execute(text(f"DELETE FROM {table}"))
            await conn.rollback()
    async with engine.connect() as conn:
        with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
            await conn.execute(update(PostingRow).values(amount=dec("1.00")))


async def test_the_desk_key_takes_a_payment_once(engine, demo):
    unit = demo["3-1201"]
    body = cashier.PaymentBody(method="cash", amount="50.00", client_key="desk-1-0001")
    async with engine.begin() as conn:
        first = await cashier.take_payment(conn, OFFICE, unit, body)
    async with engine.begin() as conn:
        second = await cashier.take_payment(conn, OFFICE, unit, body)
        with pytest.raises(Conflict):
            await cashier.take_payment(conn, OFFICE, unit, body.model_copy(update={"amount": dec("60.00")}))
    assert first == second
    async with engine.connect() as conn:
        assert len(await unit_rows(conn, unit)) == 1
