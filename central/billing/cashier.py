"""The cashier's desk: payments and prepayments with receipts, refunds, discounts, and corrections as reversals.

Receipt numbers run per estate and calendar year ({estate}-{year}-{n:06d}) from a counter taken in the
payment's own transaction, so a rolled-back payment gives its number back and the sequence has no gaps. A desk
may send a client_key: the same key again returns the first payment instead of taking the money twice.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.billing import notices
from central.billing.errors import Conflict, Invalid, NotFound
from central.billing.ledger import add_posting, month_of, plain_posting, unit_position, unit_rows
from central.billing.ledger_math import PostingKind
from central.billing.models import Bill, Payment, Posting, ReceiptSequence
from central.billing.params import Amount
from central.billing.pricing import ZERO
from central.metering.common import estate_zone
from central.registry.common import Body, Note, RecordId, audit, plain
from central.registry.models import Building, Estate, Unit
from estatelink import wire

Method = Literal["cash", "card", "transfer"]
PositiveAmount = Annotated[Amount, Field(gt=0)]
ClientKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=64)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=256)]


class PaymentBody(Body):
    method: Method
    amount: PositiveAmount
    prepayment: bool = False
    """True: money paid ahead (预存); it settles bills as they are posted."""
    bill_id: RecordId | None = None
    """The bill the payer named (printed on the receipt); settlement is still oldest due first."""
    note: Note = ""
    client_key: ClientKey | None = None


class RefundBody(Body):
    method: Method
    amount: PositiveAmount
    note: Reason


class DiscountBody(Body):
    amount: PositiveAmount
    bill_id: RecordId | None = None
    note: Reason


class ReversalBody(Body):
    note: Reason
    """Why the posting was wrong."""


async def unit_row(conn: AsyncConnection, unit_id: int) -> Any:
    """The unit with its estate and its label (building-number), or NotFound."""
    row = (await conn.execute(select(Unit.id, Unit.estate, Building.code, Unit.number)
                              .join(Building, Building.id == Unit.building_id).where(Unit.id == unit_id))).first()
    if row is None:
        raise NotFound(f"no unit with id {unit_id}")
    return row


async def locked_unit(conn: AsyncConnection, unit_id: int) -> Any:
    """The unit (unit_row), its money writes serialised until this transaction ends, so what is read next is what
    the write will be checked against: PostgreSQL locks the unit's row; SQLite's no-op write begins the transaction
    and takes the database's write lock before anything is read."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(Unit.id).where(Unit.id == unit_id).with_for_update(key_share=True))
    else:
        await conn.execute(update(Unit).where(Unit.id == unit_id).values(id=Unit.id))
    return await unit_row(conn, unit_id)


async def next_receipt(conn: AsyncConnection, estate: str, at: datetime) -> str:
    """The estate's next receipt number for the year of `at` (estate time)."""
    year = int(month_of(at, await estate_zone(conn, estate))[:4])
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ReceiptSequence).values(estate=estate, year=year, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["estate", "year"],
                                      set_={"last": ReceiptSequence.last + 1}).returning(ReceiptSequence.last)
    number = (await conn.execute(stmt)).scalar_one()
    return f"{estate}-{year}-{number:06d}"


async def _bill_of_unit(conn: AsyncConnection, bill_id: int | None, unit_id: int) -> None:
    if bill_id is not None and not await conn.scalar(select(Bill.id).where(Bill.id == bill_id,
                                                                          Bill.unit_id == unit_id)):
        raise Invalid("bill_id", f"bill {bill_id} is not a bill of unit {unit_id}")


async def record_money(conn: AsyncConnection, actor: Principal, unit: Any, *, purpose: str, method: str,
                       amount: Decimal, note: str = "", bill_id: int | None = None, client_key: str | None = None,
                       provider: str | None = None, provider_payment_id: str | None = None,
                       raw: dict[str, Any] | None = None, at: datetime | None = None) -> int:
    """Store a payment, prepayment or refund with its receipt number and its posting; returns the payment id."""
    at = at or wire.utc_now()
    kind = {"payment": PostingKind.PAYMENT, "prepayment": PostingKind.PREPAYMENT, "refund": PostingKind.REFUND}[purpose]
    payment_id = (await conn.execute(Payment.__table__.insert().values(
        estate=unit.estate, unit_id=unit.id, purpose=purpose, method=method, amount=amount,
        receipt_no=await next_receipt(conn, unit.estate, at), provider=provider,
        provider_payment_id=provider_payment_id, raw=raw, client_key=client_key, bill_id=bill_id, received_at=at,
        actor=actor.username, note=note).returning(Payment.id))).scalar_one()
    signed = amount if kind is PostingKind.REFUND else -amount
    await add_posting(conn, actor, estate=unit.estate, unit_id=unit.id, kind=kind, amount=signed,
                      period=month_of(at, await estate_zone(conn, unit.estate)), bill_id=bill_id,
                      payment_id=payment_id, note=note)
    if kind is not PostingKind.REFUND:  # a reminder of a bill this settles must not go
        await notices.after_payment(conn, actor, unit.estate, unit.id)
    after = await receipt(conn, payment_id)
    await audit(conn, actor, "payment", purpose, payment_id, unit.estate, None, after)
    return payment_id


async def take_payment(conn: AsyncConnection, actor: Principal, unit_id: int, body: PaymentBody) -> dict[str, Any]:
    """Take money at the desk (cash, card or transfer); answers the receipt."""
    unit = await locked_unit(conn, unit_id)
    if body.client_key is not None:
        seen = (await conn.execute(select(Payment).where(Payment.estate == unit.estate,
                                                         Payment.client_key == body.client_key))).first()
        if seen is not None:
            if seen.unit_id != unit_id or Decimal(seen.amount) != body.amount or seen.method != body.method:
                raise Conflict(f"client_key {body.client_key!r} was used for another payment ({seen.receipt_no})")
            return await receipt(conn, seen.id)
    await _bill_of_unit(conn, body.bill_id, unit_id)
    payment_id = await record_money(conn, actor, unit, purpose="prepayment" if body.prepayment else "payment",
                                    method=body.method, amount=body.amount, note=body.note, bill_id=body.bill_id,
                                    client_key=body.client_key)
    return await receipt(conn, payment_id)


async def refund(conn: AsyncConnection, actor: Principal, unit_id: int, body: RefundBody) -> dict[str, Any]:
    """Pay money back out of the unit's credit; never more than the credit it holds."""
    unit = await locked_unit(conn, unit_id)
    credit = (await unit_position(conn, unit_id)).credit
    if body.amount > credit:
        raise Conflict(f"amount: unit {unit.code}-{unit.number} holds a credit of {credit}; refund at most that")
    payment_id = await record_money(conn, actor, unit, purpose="refund", method=body.method, amount=body.amount,
                                    note=body.note)
    return await receipt(conn, payment_id)


async def discount(conn: AsyncConnection, actor: Principal, unit_id: int, body: DiscountBody) -> dict[str, Any]:
    """Take an amount off what the unit owes (减免), with the reason; never more than the bill named (or the unit)
    still owes, so a discount never becomes a credit that could be refunded."""
    unit = await locked_unit(conn, unit_id)
    await _bill_of_unit(conn, body.bill_id, unit_id)
    await _check_discount(conn, unit, body)
    posting_id = await add_posting(conn, actor, estate=unit.estate, unit_id=unit_id, kind=PostingKind.DISCOUNT,
                                   amount=-body.amount, period=month_of(wire.utc_now(),
                                                                        await estate_zone(conn, unit.estate)),
                                   bill_id=body.bill_id, note=body.note)
    await notices.after_payment(conn, actor, unit.estate, unit_id)
    after = await get_posting(conn, posting_id)
    await audit(conn, actor, "posting", "discount", posting_id, unit.estate, None, after)
    return after


async def _check_discount(conn: AsyncConnection, unit: Any, body: DiscountBody) -> None:
    state = await unit_position(conn, unit.id)
    if body.bill_id is None:
        owed, what = max(state.balance, ZERO), f"unit {unit.code}-{unit.number}"
    else:
        owed = sum((d.outstanding for d in state.debts if d.bill_id == body.bill_id), ZERO)
        what = f"bill {body.bill_id}"
    if body.amount > owed:
        raise Invalid("amount", f"{what} owes {owed}; discount at most that")


async def get_posting(conn: AsyncConnection, posting_id: int) -> dict[str, Any]:
    """One posting, with its estate."""
    row = (await conn.execute(select(Posting).where(Posting.id == posting_id))).first()
    if row is None:
        raise NotFound(f"no posting with id {posting_id}")
    return {**plain_posting(row), "estate": row.estate}


async def reverse(conn: AsyncConnection, actor: Principal, posting_id: int, body: ReversalBody) -> dict[str, Any]:
    """Correct a wrong posting by its exact negation; a posting is reversed at most once, a reversal never."""
    target = (await conn.execute(select(Posting).where(Posting.id == posting_id))).first()
    if target is None:
        raise NotFound(f"no posting with id {posting_id}")
    await locked_unit(conn, target.unit_id)
    if target.kind == PostingKind.REVERSAL:
        raise Conflict(f"posting {posting_id} is itself a reversal: post the original entry again instead")
    if await conn.scalar(select(Posting.id).where(Posting.reverses_id == posting_id)):
        raise Conflict(f"posting {posting_id} is reversed already")
    new_id = await add_posting(conn, actor, estate=target.estate, unit_id=target.unit_id, kind=PostingKind.REVERSAL,
                               amount=-Decimal(target.amount), period=max(target.period, month_of(
                                   wire.utc_now(), await estate_zone(conn, target.estate))),
                               bill_id=target.bill_id, bill_line_id=target.bill_line_id,
                               payment_id=target.payment_id, reverses=target, note=body.note)
    after = await get_posting(conn, new_id)
    await audit(conn, actor, "posting", "reverse", new_id, target.estate, await get_posting(conn, posting_id), after)
    return after


async def receipt(conn: AsyncConnection, payment_id: int) -> dict[str, Any]:
    """A payment as its receipt: who, what, how, the number, and the unit's balance after it."""
    row = (await conn.execute(select(Payment, Estate.name.label("estate_name")).join(
        Estate, Estate.code == Payment.estate).where(Payment.id == payment_id))).first()
    if row is None:
        raise NotFound(f"no payment with id {payment_id}")
    unit = await unit_row(conn, row.unit_id)
    posting = await conn.scalar(select(Posting.id).where(Posting.payment_id == payment_id,
                                                         Posting.kind != PostingKind.REVERSAL))
    history = [r for r in await unit_rows(conn, row.unit_id) if r.id <= (posting or 0)]
    out = plain(row, hide=("raw", "client_key"))
    out.update({"unit": f"{unit.code}-{unit.number}", "posting_id": posting,
                "balance_after": sum((Decimal(r.amount) for r in history), Decimal("0.00")),
                "reversed": bool(posting and await conn.scalar(select(Posting.id).where(
                    Posting.reverses_id == posting)))})
    return out


async def list_payments(conn: AsyncConnection, estate: str, *, since: datetime | None = None,
                        until: datetime | None = None, unit_id: int | None = None, after: int | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
    """Payments, prepayments and refunds of the estate in id order."""
    stmt = select(Payment).where(Payment.estate == estate)
    if since is not None:
        stmt = stmt.where(Payment.received_at >= since)
    if until is not None:
        stmt = stmt.where(Payment.received_at < until)
    if unit_id is not None:
        stmt = stmt.where(Payment.unit_id == unit_id)
    if after is not None:
        stmt = stmt.where(Payment.id > after)
    return [plain(r, hide=("raw", "client_key")) for r in (await conn.execute(stmt.order_by(Payment.id)
                                                                              .limit(limit))).all()]
