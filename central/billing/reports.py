"""Reports derived only from postings: per period and unit (opening, billed, received, closing), arrears, and a
unit's statement. Every posting belongs to one period (its bill's, or the estate month it was made in), so
closing = opening + billed - received for every unit and period, the estate's figures are the sums of its
units', and a statement's closing balance is the ledger balance through its last period.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.billing.errors import Invalid
from central.billing.ledger import entry, plain_posting, position, side_of, unit_rows
from central.billing.ledger_math import arrears, balance, effective_kinds, receivable, received
from central.billing.models import Bill, Posting
from central.billing.pricing import ZERO
from central.registry.common import month_bounds, plain
from central.registry.models import Building, Unit

CENT = Decimal("0.01")


def _money(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(CENT)


def _sums(period: str) -> list[Any]:
    amount, side = Posting.amount, Posting.side
    return [func.sum(case((Posting.period < period, amount), else_=0)).label("opening"),
            func.sum(case(((Posting.period == period) & (side == "billed"), amount), else_=0)).label("billed"),
            func.sum(case(((Posting.period == period) & (side == "received"), -amount), else_=0)).label("received"),
            func.sum(case(((Posting.period <= period) & (side == "billed"), amount), else_=0)).label("receivable"),
            func.sum(case(((Posting.period <= period) & (side == "received"), -amount), else_=0)).label("paid")]


def _unit_figures(row: Any) -> dict[str, Any]:
    opening, billed, got = _money(row.opening), _money(row.billed), _money(row.received)
    receivable_to_date, received_to_date = _money(row.receivable), _money(row.paid)
    return {"unit_id": row.unit_id, "unit": f"{row.building}-{row.number}", "opening": opening, "billed": billed,
            "received": got, "closing": opening + billed - got, "receivable_to_date": receivable_to_date,
            "received_to_date": received_to_date, "arrears": receivable_to_date - received_to_date}


async def period_units(conn: AsyncConnection, estate: str, period: str, *, after: int | None = None,
                       limit: int | None = None, owing_only: bool = False) -> list[dict[str, Any]]:
    """Per unit with postings: the period's figures, and receivable, received and arrears through it."""
    month_bounds(period, "period")
    stmt = (select(Posting.unit_id, Building.code.label("building"), Unit.number, *_sums(period))
            .join(Unit, Unit.id == Posting.unit_id).join(Building, Building.id == Unit.building_id)
            .where(Posting.estate == estate, Posting.period <= period)
            .group_by(Posting.unit_id, Building.code, Unit.number).order_by(Posting.unit_id))
    if after is not None:
        stmt = stmt.where(Posting.unit_id > after)
    if owing_only:
        stmt = stmt.having(func.sum(Posting.amount) > 0)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_unit_figures(row) for row in (await conn.execute(stmt)).all()]


def _totals(units: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("opening", "billed", "received", "closing", "receivable_to_date", "received_to_date", "arrears")
    return {"units": len(units), **{k: sum((u[k] for u in units), ZERO) for k in keys}}


async def period_report(conn: AsyncConnection, estate: str, period: str, *, after: int | None = None,
                        limit: int = 100) -> dict[str, Any]:
    """The estate's totals for the period (sums of every unit's) and a page of its units."""
    every = await period_units(conn, estate, period)
    page = [u for u in every if after is None or u["unit_id"] > after][:limit]
    return {"estate": estate, "period": period, "totals": _totals(every), "items": page,
            "next_after": page[-1]["unit_id"] if len(page) == limit else None}


async def arrears_report(conn: AsyncConnection, estate: str, period: str) -> dict[str, Any]:
    """Units owing at the end of the period, largest first, with the estate's total arrears."""
    owing = [u for u in await period_units(conn, estate, period, owing_only=True) if u["closing"] > 0]
    owing.sort(key=lambda u: (-u["closing"], u["unit_id"]))
    return {"estate": estate, "period": period, "units": len(owing),
            "total": sum((u["closing"] for u in owing), ZERO), "items": owing}


async def statement(conn: AsyncConnection, unit_id: int, first: str, last: str) -> dict[str, Any]:
    """The unit's account from period `first` to `last`: opening balance, each posting with the running balance,
    the closing balance, and receivable, received and arrears to date (by ledger_math on the full history)."""
    month_bounds(first, "from")
    month_bounds(last, "to")
    if last < first:
        raise Invalid("to", f"{last} is before from {first}")
    rows = await unit_rows(conn, unit_id, through_period=last)
    entries = [entry(row) for row in rows]
    kinds = effective_kinds(entries)
    before = [e for row, e in zip(rows, entries) if row.period < first]
    running = opening = balance(before)
    lines, billed, got = [], ZERO, ZERO
    inside = sorted((i for i, row in enumerate(rows) if row.period >= first), key=lambda i: (rows[i].period, i))
    for i in inside:
        running += entries[i].amount
        if side_of(kinds[i]) == "billed":
            billed += entries[i].amount
        else:
            got -= entries[i].amount
        lines.append({**plain_posting(rows[i]), "effective_kind": str(kinds[i]), "balance": running})
    now = position(rows)
    return {"unit_id": unit_id, "from": first, "to": last, "opening_balance": opening, "billed": billed,
            "received": got, "closing_balance": running, "lines": lines,
            "receivable_to_date": receivable(entries), "received_to_date": received(entries),
            "arrears": arrears(entries), "prepayment_credit": now.credit,
            "open": [{"posting_id": d.posting_id, "kind": d.kind, "bill_id": d.bill_id, "due": d.due,
                      "outstanding": d.outstanding} for d in now.debts if d.outstanding > 0]}


async def bills_of(conn: AsyncConnection, *, estate: str | None = None, unit_ids: set[int] | None = None,
                   period: str | None = None, after: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Bills in id order, filtered by estate, units and period."""
    stmt = select(Bill)
    if estate is not None:
        stmt = stmt.where(Bill.estate == estate)
    if unit_ids is not None:
        stmt = stmt.where(Bill.unit_id.in_(sorted(unit_ids)))
    if period is not None:
        stmt = stmt.where(Bill.period == period)
    if after is not None:
        stmt = stmt.where(Bill.id > after)
    return [plain(row) for row in (await conn.execute(stmt.order_by(Bill.id).limit(limit))).all()]
