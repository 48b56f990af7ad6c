"""Late fees (滞纳金): charged per overdue bill, at most once per bill per day, as late_fee postings.

A bill is overdue the day after its due date plus the policy's grace days while any of its charges is
outstanding (settlement is oldest due first, ledger.py). A run on day D posts, for each overdue bill, one
late fee covering the days since the bill's previous late fee (or since it fell overdue) through D:
ledger_math.late_fee(outstanding on D, days, daily rate, cap left), where the cap is the policy's ratio of the
bill's charges less the late fees already charged on it. Its key late_fee:{bill}:{D} makes a second run on the
same day post nothing. Days missed by the scheduler are caught up at the outstanding amount of the run day.
Late fees are debts themselves (paid oldest due first) but earn no late fees.
"""
from __future__ import annotations

from datetime import date, timedelta
from itertools import groupby
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.audit import record_change
from central.auth.principal import Principal
from central.billing.bulk import copy_rows
from central.billing.errors import Invalid
from central.billing.items import get_policy
from central.billing.ledger import balances, position
from central.billing.ledger_math import Posting as Entry
from central.billing.ledger_math import PostingKind, late_fee
from central.billing.models import Posting
from central.billing.pricing import ZERO, to_cents
from central.metering.common import estate_zone
from central.registry.common import require_estate
from estatelink import wire


def _bill_facts(rows: list[Any]) -> dict[int, dict[str, Any]]:
    """Per bill: its due date, unreversed charges (principal), late fees charged, and the last day one covers."""
    reversed_ids = {row.reverses_id for row in rows if row.reverses_id is not None}
    facts: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.bill_id is None or row.id in reversed_ids or row.kind not in ("charge", "late_fee"):
            continue
        fact = facts.setdefault(row.bill_id, {"principal": ZERO, "charged": ZERO, "last": None, "due": None})
        if row.kind == "charge":
            fact["principal"] += Decimal(row.amount)
            fact["due"] = row.due_date  # a bill's charges carry its due date
        else:
            fact["charged"] += Decimal(row.amount)
            fact["last"] = max(fact["last"] or row.due_date, row.due_date)
    return facts


async def _histories(conn: AsyncConnection, unit_ids: list[int], batch: int = 1000) -> list[tuple[int, list[Any]]]:
    """Each unit's postings in order, loaded a thousand units at a time rather than one query per unit."""
    found = []
    for start in range(0, len(unit_ids), batch):
        chunk = unit_ids[start:start + batch]
        rows = (await conn.execute(select(Posting).where(Posting.unit_id.in_(chunk))
                                   .order_by(Posting.unit_id, Posting.id))).all()
        for unit_id, history in groupby(rows, key=lambda row: row.unit_id):
            found.append((unit_id, list(history)))
    return found


async def _check_day_has_come(conn: AsyncConnection, estate: str, as_of: date) -> None:
    today = wire.utc_now().astimezone(await estate_zone(conn, estate)).date()
    if as_of > today:
        raise Invalid("as_of", f"{as_of} has not come yet in estate {estate} (today is {today}); late fees accrue "
                               "day by day, so assess them on or after the day")


async def assess(conn: AsyncConnection, actor: Principal, estate: str, as_of: date) -> dict[str, Any]:
    """Post the late fees due on `as_of` for every overdue bill of the estate; safe to run again."""
    await require_estate(conn, estate)
    await _check_day_has_come(conn, estate, as_of)
    policy = await get_policy(conn, estate)
    rate, ratio, grace = (Decimal(policy["late_fee_daily_rate"]), Decimal(policy["late_fee_cap_ratio"]),
                          int(policy["late_fee_grace_days"]))
    posted, total, now = [], ZERO, wire.utc_now()
    owing = sorted(await balances(conn, estate, only="debit"))
    for unit_id, rows in await _histories(conn, owing):
        outstanding = position(rows).outstanding_by_bill()
        facts = _bill_facts(rows)
        keys = {row.key for row in rows if row.key}
        for bill_id in sorted(b for b, owed in outstanding.items() if owed > 0):
            fact = facts[bill_id]
            overdue_from = fact["due"] + timedelta(days=grace + 1)
            key = f"late_fee:{bill_id}:{as_of.isoformat()}"
            if as_of < overdue_from or key in keys:
                continue
            since = fact["last"] + timedelta(days=1) if fact["last"] else overdue_from
            days = (as_of - since).days + 1
            cap_left = max(to_cents(fact["principal"] * ratio) - fact["charged"], ZERO)
            fee = late_fee(outstanding[bill_id], days, rate, cap_left)
            if days <= 0 or fee <= 0:
                continue
            Entry(key, PostingKind.LATE_FEE, fee, str(unit_id))
            posted.append({"estate": estate, "unit_id": unit_id, "period": as_of.strftime("%Y-%m"),
                           "kind": "late_fee", "side": "billed", "amount": fee, "due_date": as_of,
                           "bill_id": bill_id, "bill_line_id": None, "payment_id": None, "reverses_id": None,
                           "key": key, "created_at": now, "actor": actor.username,
                           "note": f"{days} day(s) on {outstanding[bill_id]} overdue since {overdue_from}"})
            total += fee
    await copy_rows(conn, Posting, posted)
    summary = {"as_of": as_of, "bills": len(posted), "total": total, "units": len({p["unit_id"] for p in posted})}
    await record_change(conn, actor, "late_fees.assess", "late_fees", as_of.isoformat(), estate, None, summary)
    return summary
