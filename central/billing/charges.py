"""One-off charges at the desk: a fixed fee (times a quantity) or a temporary-parking stay billed to a unit, and
quoting a stay. A one-off charge is its unit's next bill of the current estate month, due like a run's bill."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.billing import params
from central.billing.bulk import copy_records, insert_with_ids
from central.billing.cashier import unit_row
from central.billing.context import active_items, due_date
from central.billing.errors import Invalid, NotFound
from central.billing.items import get_policy
from central.billing.ledger import CHARGE_COLUMNS, charge_records, month_of
from central.billing.models import Bill, BillLine, Posting
from central.billing.pricing import BillLine as PricedLine
from central.billing.pricing import PricingError, bill_line, lines_total, parking_fee
from central.metering.common import estate_zone
from central.registry.common import Body, Note, RecordId, audit, plain
from estatelink import wire


class StayBody(Body):
    entry: AwareDatetime
    leaving: AwareDatetime
    fee_item_id: RecordId | None = None
    """The temporary-parking item; by default the estate's only active one."""


class ChargeBody(Body):
    fee_item_id: RecordId
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1
    """Fixed items: how many."""
    entry: AwareDatetime | None = None
    """Temporary parking: the stay."""
    leaving: AwareDatetime | None = None
    note: Note = ""


async def _item(conn: AsyncConnection, estate: str, kinds: tuple[str, ...], item_id: int | None) -> Any:
    zone = await estate_zone(conn, estate)
    found, _ = await active_items(conn, estate, datetime.now(zone).date(), kinds)
    if item_id is not None:
        found = [i for i in found if i.id == item_id]
    if len(found) != 1:
        what = f"fee item {item_id}" if item_id else f"exactly one active {' or '.join(kinds)} item"
        raise NotFound(f"estate {estate!r} has no {what} with a rule version in force today")
    return found[0]


def _stay(item: Any, entry: datetime, leaving: datetime) -> tuple[PricedLine, ...]:
    tariff = params.parking_tariff(item.params, item.ref)
    zone = entry.tzinfo
    try:
        return parking_fee(entry, leaving.astimezone(zone), tariff)
    except PricingError as exc:
        raise Invalid("leaving", str(exc)) from None


def _shown(lines: tuple[PricedLine, ...]) -> list[dict[str, Any]]:
    return [{"label": line.label, "quantity": line.quantity, "unit": line.unit, "unit_price": line.unit_price,
             "amount": line.amount, "rule": {"name": line.rule.name, "version": line.rule.version}} for line in lines]


async def quote_stay(conn: AsyncConnection, estate: str, body: StayBody) -> dict[str, Any]:
    """What a temporary-parking stay costs, line by line (per day, capped)."""
    item = await _item(conn, estate, ("parking_temporary",), body.fee_item_id)
    zone = await estate_zone(conn, estate)
    lines = _stay(item, body.entry.astimezone(zone), body.leaving)
    return {"fee_item_id": item.id, "lines": _shown(lines), "total": lines_total(lines)}


async def charge(conn: AsyncConnection, actor: Principal, unit_id: int, body: ChargeBody) -> dict[str, Any]:
    """Bill a one-off charge to the unit now: a new bill with its lines and charge postings."""
    unit = await unit_row(conn, unit_id)
    item = await _item(conn, unit.estate, ("fixed", "parking_temporary"), body.fee_item_id)
    zone = await estate_zone(conn, unit.estate)
    if item.kind == "fixed":
        lines: tuple[PricedLine, ...] = (bill_line(item.name[:160], Decimal(body.quantity), item.params.label,
                                                   item.params.amount, item.ref),)
    elif body.entry is None or body.leaving is None:
        raise Invalid("entry", "a temporary-parking charge needs the stay's entry and leaving times")
    else:
        lines = _stay(item, body.entry.astimezone(zone), body.leaving)
    lines = tuple(line for line in lines if line.amount != 0)
    if not lines:
        raise Invalid("fee_item_id", "the charge comes to nothing (within the free minutes?)")
    now = wire.utc_now()
    period = month_of(now, zone)
    due = due_date(period, (await get_policy(conn, unit.estate))["due_months"])
    seq = (await conn.scalar(select(func.max(Bill.seq)).where(Bill.estate == unit.estate, Bill.period == period,
                                                               Bill.unit_id == unit_id)) or 0) + 1
    [bill_id] = await insert_with_ids(conn, Bill, [{
        "estate": unit.estate, "unit_id": unit_id, "period": period, "seq": seq, "origin": "charge", "run_id": None,
        "issued_at": now, "due_date": due, "total": lines_total(lines)}])
    source = {"note": body.note} | ({"entry": body.entry.isoformat(), "leaving": body.leaving.isoformat()}
                                   if body.entry and body.leaving else {})
    line_ids = await insert_with_ids(conn, BillLine, [{
        "bill_id": bill_id, "estate": unit.estate, "unit_id": unit_id, "period": period, "origin": "charge",
        "fee_item_id": item.id, "line_no": n, "label": line.label, "quantity": line.quantity, "unit": line.unit,
        "unit_price": line.unit_price, "amount": line.amount, "rule_id": item.rule_id, "rule_name": line.rule.name,
        "rule_version": line.rule.version, "source": source} for n, line in enumerate(lines, 1)])
    await copy_records(conn, Posting, CHARGE_COLUMNS, charge_records(
        unit.estate, unit_id, period, due, bill_id, line_ids, [line.amount for line in lines], actor.username, now))
    after = await get_bill(conn, bill_id)
    await audit(conn, actor, "bill", "charge", bill_id, unit.estate, None, after)
    return after


async def get_bill(conn: AsyncConnection, bill_id: int) -> dict[str, Any]:
    """A bill with its lines (each with the rule version that priced it) and its charge postings' ids."""
    row = (await conn.execute(select(Bill).where(Bill.id == bill_id))).first()
    if row is None:
        raise NotFound(f"no bill with id {bill_id}")
    lines = (await conn.execute(select(BillLine).where(BillLine.bill_id == bill_id).order_by(BillLine.id))).all()
    postings = dict((await conn.execute(select(Posting.bill_line_id, Posting.id).where(
        Posting.bill_line_id.in_([line.id for line in lines]), Posting.kind == "charge"))).all())
    return {**plain(row), "lines": [{**plain(line, hide=("estate", "unit_id", "period", "bill_id")),
                                     "posting_id": postings.get(line.id)} for line in lines]}
