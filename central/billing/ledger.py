"""The ledger in the database: immutable postings, checked by ledger_math before they are written.

Settlement is derived, never stored: a unit's credits (payments, prepayments, discounts, less refunds) settle
its unreversed charges and late fees oldest due date first, by `ledger_math.auto_settle`. A prepayment held
when a bill is posted therefore settles it at once, and a payment settles the oldest debt whatever bill the
cashier named. Each posting has a side, billed or received, the one ledger_math's receivable and received
give it (a reversal takes its target's), so reports can sum in SQL and still agree with ledger_math.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.billing.errors import Conflict
from central.billing.ledger_math import (LedgerError, OpenCharge, Posting as Entry, PostingKind, auto_settle,
                                         balance, effective_kinds)
from central.billing.models import Posting
from central.billing.pricing import ZERO, to_cents
from central.registry.common import aware
from estatelink import wire

BILLED_KINDS = frozenset({PostingKind.CHARGE, PostingKind.LATE_FEE, PostingKind.DISCOUNT})
"""The kinds ledger_math.receivable counts; every other kind is received (tests/billing checks the two agree)."""
DEBT_KINDS = frozenset({PostingKind.CHARGE, PostingKind.LATE_FEE, PostingKind.REFUND})
"""What credits settle. A refund is money paid out of the credit, so it is settled first (it has no due date);
if the payment that funded it is reversed later, the refund is owed like a charge."""


def side_of(kind: PostingKind) -> str:
    """billed or received."""
    return "billed" if kind in BILLED_KINDS else "received"


def month_of(at: datetime, zone: ZoneInfo) -> str:
    """The estate month (YYYY-MM) of an instant."""
    return aware(at).astimezone(zone).strftime("%Y-%m")


def entry(row: Any) -> Entry:
    """A stored posting as ledger_math's Posting."""
    return Entry(str(row.id), PostingKind(row.kind), Decimal(row.amount), str(row.unit_id),
                 str(row.bill_line_id) if row.bill_line_id else None,
                 str(row.reverses_id) if row.reverses_id is not None else None)


async def unit_rows(conn: AsyncConnection, unit_id: int, *, through_period: str | None = None) -> list[Any]:
    """The unit's postings in the order they were made (optionally only periods up to one)."""
    stmt = select(Posting).where(Posting.unit_id == unit_id).order_by(Posting.id)
    if through_period is not None:
        stmt = stmt.where(Posting.period <= through_period)
    return list((await conn.execute(stmt)).all())


async def unit_balance(conn: AsyncConnection, unit_id: int) -> Decimal:
    """What the unit owes now (negative: a credit)."""
    return balance(entry(row) for row in await unit_rows(conn, unit_id))


async def balances(conn: AsyncConnection, estate: str, span: tuple[int, int] | None = None,
                   only: str | None = None) -> dict[int, Decimal]:
    """Balances per unit (ids lo <= id < hi) from SQL sums; `only` = 'debit' or 'credit' keeps units owing or
    in credit."""
    total = func.round(func.sum(Posting.amount), 2)  # SQLite sums REALs: 0.30 - 0.10 - 0.20 is -2.8e-17
    stmt = select(Posting.unit_id, total).where(Posting.estate == estate).group_by(Posting.unit_id)
    if span is not None:
        stmt = stmt.where(Posting.unit_id >= span[0], Posting.unit_id < span[1])
    if only == "debit":
        stmt = stmt.having(total > 0)
    elif only == "credit":
        stmt = stmt.having(total < 0)
    return {unit_id: cents(amount) for unit_id, amount in (await conn.execute(stmt)).all()}


def cents(amount: Any) -> Decimal:
    """A sum from SQL (a Decimal, or a float on SQLite) as Decimal cents, never -0.00."""
    return to_cents(Decimal(str(amount))) + ZERO


@dataclass(frozen=True, slots=True)
class Debt:
    """An unreversed charge or late fee and what of it is still owed."""

    posting_id: int
    kind: str
    bill_id: int | None
    bill_line_id: int | None
    due: date
    amount: Decimal
    outstanding: Decimal


@dataclass(frozen=True, slots=True)
class Position:
    """A unit's debts with their outstanding amounts, and the credit left over (the prepayment balance)."""

    debts: tuple[Debt, ...]
    credit: Decimal
    balance: Decimal

    def outstanding_by_bill(self) -> dict[int, Decimal]:
        """Outstanding charges (not late fees) per bill."""
        found: dict[int, Decimal] = {}
        for debt in self.debts:
            if debt.bill_id is not None and debt.kind == PostingKind.CHARGE:
                found[debt.bill_id] = found.get(debt.bill_id, ZERO) + debt.outstanding
        return found


def position(rows: Sequence[Any]) -> Position:
    """Settle the unit's credits against its debts oldest due first (ledger_math.auto_settle)."""
    entries = [entry(row) for row in rows]
    kinds = effective_kinds(entries)
    reversed_ids = {int(e.reverses) for e in entries if e.reverses}
    debts = [row for row, kind, e in zip(rows, kinds, entries)
             if kind in DEBT_KINDS and e.reverses is None and row.id not in reversed_ids]
    total = balance(entries)
    owed = sum((Decimal(row.amount) for row in debts), ZERO)
    pool = owed - total
    settlement = auto_settle(max(pool, ZERO), [
        OpenCharge(f"{row.id:020d}", row.due_date or date.min, Decimal(row.amount)) for row in debts])
    applied = {int(ref): amount for ref, amount in settlement.applied}
    return Position(tuple(Debt(row.id, row.kind, row.bill_id, row.bill_line_id, row.due_date or date.min,
                               Decimal(row.amount), Decimal(row.amount) - applied.get(row.id, ZERO))
                          for row in debts), max(-total, ZERO), total)


async def unit_position(conn: AsyncConnection, unit_id: int) -> Position:
    """The unit's debts and credit now."""
    return position(await unit_rows(conn, unit_id))


async def add_posting(conn: AsyncConnection, actor: Principal, *, estate: str, unit_id: int, kind: PostingKind,
                      amount: Decimal, period: str, due_date: date | None = None, bill_id: int | None = None,
                      bill_line_id: int | None = None, payment_id: int | None = None, reverses: Any = None,
                      key: str | None = None, note: str = "") -> int:
    """Write one posting after ledger_math accepts it against the unit's history; returns its id."""
    history = await unit_rows(conn, unit_id)
    side = side_of(kind)
    if reverses is not None:
        side = reverses.side
    candidate = Entry("new", kind, amount, str(unit_id), str(bill_line_id) if bill_line_id else None,
                      str(reverses.id) if reverses is not None else None)
    try:
        effective_kinds([entry(row) for row in history] + [candidate])
    except LedgerError as exc:
        raise Conflict(str(exc)) from None
    stmt = insert(Posting).values(
        estate=estate, unit_id=unit_id, period=period, kind=str(kind), side=side, amount=amount, due_date=due_date,
        bill_id=bill_id, bill_line_id=bill_line_id, payment_id=payment_id,
        reverses_id=reverses.id if reverses is not None else None, key=key, created_at=wire.utc_now(),
        actor=actor.username, note=note[:256]).returning(Posting.id)
    return (await conn.execute(stmt)).scalar_one()


CHARGE_COLUMNS = ["estate", "unit_id", "period", "kind", "side", "amount", "due_date", "bill_id", "bill_line_id",
                  "created_at", "actor", "note"]


def charge_records(estate: str, unit_id: int, period: str, due: date, bill_id: int, line_ids: Sequence[int],
                   amounts: Sequence[Decimal], actor: str, at: datetime,
                   checked: set[Decimal] | None = None) -> list[list[Any]]:
    """Charge postings (CHARGE_COLUMNS) for a new bill's lines, each amount checked by ledger_math's Posting."""
    checked = set() if checked is None else checked
    records = []
    for line_id, amount in zip(line_ids, amounts, strict=True):
        if amount not in checked:  # a run has few distinct amounts and half a million lines
            Entry(str(line_id), PostingKind.CHARGE, amount, str(unit_id), str(line_id))
            checked.add(amount)
        records.append([estate, unit_id, period, "charge", "billed", amount, due, bill_id, line_id, at, actor, ""])
    return records


def plain_posting(row: Any) -> dict[str, Any]:
    """A posting as JSON-ready data."""
    return {"id": row.id, "unit_id": row.unit_id, "period": row.period, "kind": row.kind, "side": row.side,
            "amount": Decimal(row.amount), "due_date": row.due_date, "bill_id": row.bill_id,
            "bill_line_id": row.bill_line_id, "payment_id": row.payment_id, "reverses_id": row.reverses_id,
            "created_at": aware(row.created_at), "actor": row.actor, "note": row.note}
