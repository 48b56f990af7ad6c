"""Two desks acting on one unit at the same moment: a refund is paid out of the credit once, and a client_key sent
twice answers the first receipt. A third connection holds the estate's receipt counter for a moment, so both
requests have started (and, without the unit lock, read the unit) before either can write."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from central.billing import cashier
from central.billing.errors import Conflict
from central.billing.ledger import unit_position
from central.billing.models import Payment
from estatelink import wire
from tests.billing.conftest import OFFICE

HOLD_SECONDS = 1.0


async def side_by_side(engine, *attempts: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Start the attempts while another transaction holds the receipt counter, then let it go."""
    async with engine.connect() as holder:
        await holder.begin()
        await cashier.next_receipt(holder, "demo", wire.utc_now())
        tasks = [asyncio.create_task(attempt()) for attempt in attempts]
        await asyncio.sleep(HOLD_SECONDS)
        await holder.rollback()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_two_refunds_at_once_pay_out_the_credit_once(engine, demo):
    unit = demo["3-1201"]
    async with engine.begin() as conn:
        await cashier.take_payment(conn, OFFICE, unit, cashier.PaymentBody(method="cash", amount="100.00",
                                                                           prepayment=True))
    body = cashier.RefundBody(method="cash", amount="100.00", note="moving out")

    async def one_refund() -> dict[str, Any]:
        async with engine.begin() as conn:
            return await cashier.refund(conn, OFFICE, unit, body)

    results = await side_by_side(engine, one_refund, one_refund)
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 1 and "holds a credit of 0.00" in refused[0].message, results
    async with engine.connect() as conn:
        assert (await unit_position(conn, unit)).balance == Decimal("0.00")


async def _payments(engine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Payment.unit_id, Payment.receipt_no))).all())


async def test_the_same_client_key_sent_twice_at_once_answers_the_first_receipt_twice(api, engine, demo):
    unit = demo["3-1201"]
    body = {"method": "cash", "amount": "88.00", "client_key": "desk-1-000042"}

    async def send() -> tuple[int, dict]:
        return await api("cashier", "POST", f"/units/{unit}/payments", body)

    results = await side_by_side(engine, send, send)
    assert [status for status, _ in results] == [201, 201], results
    [payment] = await _payments(engine)
    assert {answer["receipt_no"] for _, answer in results} == {payment.receipt_no}


async def test_a_client_key_sent_for_two_units_at_once_names_the_first_receipt(api, engine, demo):
    """The unit locks do not meet here: on PostgreSQL the key's unique index stops the second payment, and the
    retry answers what the key was used for instead of a bare conflict."""
    body = {"method": "cash", "amount": "88.00", "client_key": "desk-1-000043"}

    def send(unit: str) -> Callable[[], Awaitable[tuple[int, dict]]]:
        return lambda: api("cashier", "POST", f"/units/{demo[unit]}/payments", body)

    results = await side_by_side(engine, send("3-1201"), send("3-1202"))
    [payment] = await _payments(engine)
    assert sorted(status for status, _ in results) == [201, 409], results
    [refusal] = [answer for status, answer in results if status == 409]
    assert f"client_key 'desk-1-000043' was used for another payment ({payment.receipt_no})" in refusal["message"]
