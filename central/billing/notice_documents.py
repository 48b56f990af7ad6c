"""What billing's notices say and to whom: the recipient of a unit's bills, a bill's figures from the ledger, and
the 缴费通知单 (a notify NoticeDocument) built from the bill's lines. Lookups take a batch of units or bills at a
time; nothing here queues (notices.py does).

The recipient is a current owner of the unit (the registry has no other notion of who receives bills): the
first owner, by move-in, with an e-mail address notify accepts gets an e-mail; failing that, the first with a
phone number gets an SMS; failing that the unit has no contact.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.billing.ledger import Position
from central.billing.ledger_math import PostingKind
from central.billing.models import BillLine
from central.billing.pricing import ZERO
from central.notify.document import NoticeDocument, NoticeLine
from central.notify.errors import Invalid
from central.notify.service import NoticeRequest
from central.notify.service import _check as notify_accepts  # notify's own rule: what it would refuse, we skip
from central.registry.models import Building, Occupancy, Resident, Unit

MAX_LINES = 200
"""NoticeDocument's limit; a longer bill shows its first lines and the rest summed in one."""
DEFAULT_PAYMENT_INSTRUCTIONS = {
    "zh-CN": "请到物业服务中心前台缴纳（现金、银行卡或转账），或通过线上缴费渠道支付",
    "en": "Pay at the property management office (cash, card or bank transfer) or online",
}
_WORDS = {
    "zh-CN": {"title": "缴费通知单", "settled": "预存/已缴抵扣", "reversed": "冲正", "late_fee": "滞纳金",
              "rest": "其他", "rest_detail": "其余 {n} 项", "quote": "；缴费时请注明账单号 {reference}。",
              "paid_up": "本账单已全额抵扣，无需另行缴费。"},
    "en": {"title": "Bill", "settled": "Prepayment / paid", "reversed": "Corrected", "late_fee": "Late fee",
           "rest": "Other", "rest_detail": "{n} more lines", "quote": "; please quote bill number {reference}.",
           "paid_up": "This bill is settled in full; nothing is left to pay."},
}


@dataclass(frozen=True, slots=True)
class Recipient:
    resident_id: int
    name: str
    channel: str
    """email or sms."""
    address: str


@dataclass(frozen=True, slots=True)
class BillFigures:
    """One bill as the ledger sees it now."""

    charged: Decimal
    """Its unreversed charges."""
    outstanding: Decimal
    """Of those, what credits have not settled."""
    late_fees: Decimal
    """Its late fees not yet settled."""

    @property
    def amount_due(self) -> Decimal:
        """What is still to pay on the bill, late fees included."""
        return self.outstanding + self.late_fees


def figures(position: Position) -> dict[int, BillFigures]:
    """Per bill of the unit: charges, what of them is outstanding, and unsettled late fees."""
    found: dict[int, list[Decimal]] = {}
    for debt in position.debts:
        if debt.bill_id is None:
            continue
        sums = found.setdefault(debt.bill_id, [ZERO, ZERO, ZERO])
        if debt.kind == PostingKind.CHARGE:
            sums[0] += debt.amount
            sums[1] += debt.outstanding
        else:
            sums[2] += debt.outstanding
    return {bill_id: BillFigures(*sums) for bill_id, sums in found.items()}


NOTHING = BillFigures(ZERO, ZERO, ZERO)


def bill_reference(estate: str, period: str, bill_id: int) -> str:
    """The bill number printed on notices: estate, period and the bill's id (what the cashier's desk asks for)."""
    return f"{estate}-{period}-B{bill_id}"


def unit_label(building: str, number: str) -> str:
    """A unit as residents write it: 3栋1201室."""
    return (building + ("" if building.endswith(("栋", "幢", "楼")) else "栋") + number
            + ("" if number.endswith("室") else "室"))


def instructions(text: str | None, locale: str, reference: str) -> str:
    """How to pay, ending with the bill number to quote."""
    base = (text or DEFAULT_PAYMENT_INSTRUCTIONS[locale]).strip().rstrip("。.;；")
    return base + _WORDS[locale]["quote"].format(reference=reference)


def _reachable(channel: str, address: str) -> bool:
    if not address.strip():
        return False
    try:
        notify_accepts(NoticeRequest("-", channel, address, "bill_notice", "-", "bill_notice", {}))  # type: ignore[arg-type]
    except Invalid:
        return False
    return True


async def recipients(conn: AsyncConnection, unit_ids: Sequence[int], today: date) -> dict[int, Recipient]:
    """Each unit's recipient on `today` (units without a reachable current owner are left out)."""
    if not unit_ids:
        return {}
    rows = (await conn.execute(
        select(Occupancy.unit_id, Resident.id, Resident.name, Resident.email, Resident.phone)
        .join(Resident, Resident.id == Occupancy.resident_id)
        .where(Occupancy.unit_id.in_(sorted(set(unit_ids))), Occupancy.relation == "owner",
               Occupancy.move_in <= today, or_(Occupancy.move_out.is_(None), Occupancy.move_out > today))
        .order_by(Occupancy.unit_id, Occupancy.move_in, Occupancy.id))).all()
    found = {}
    for unit_id, owners in groupby(rows, key=lambda row: row.unit_id):
        owners = list(owners)
        chosen = next((Recipient(o.id, o.name, "email", o.email.strip()) for o in owners
                       if _reachable("email", o.email or "")), None)
        chosen = chosen or next((Recipient(o.id, o.name, "sms", o.phone.strip()) for o in owners
                                 if _reachable("sms", o.phone or "")), None)
        if chosen is not None:
            found[unit_id] = chosen
    return found


async def unit_labels(conn: AsyncConnection, unit_ids: Sequence[int]) -> dict[int, str]:
    """3栋1201室 per unit id."""
    if not unit_ids:
        return {}
    rows = (await conn.execute(select(Unit.id, Building.code, Unit.number).join(
        Building, Building.id == Unit.building_id).where(Unit.id.in_(sorted(set(unit_ids)))))).all()
    return {row.id: unit_label(row.code, row.number) for row in rows}


def number(value: Decimal, places: int = 0) -> str:
    """A stored quantity or price without trailing zeros, but with at least `places` decimals: 3.450000 -> 3.45."""
    value = Decimal(value).normalize()
    exponent = value.as_tuple().exponent
    shown = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{value:.{max(shown, places)}f}"


def notice_line(item_name: str, row: Any) -> NoticeLine:
    """A bill line for the notice: the fee item, how it was priced (label, quantity × unit price), the amount."""
    how = (f"{number(row.quantity)} {row.unit} × {number(row.unit_price, 2)} 元/{row.unit}"
           if row.unit and row.quantity is not None and row.unit_price is not None else "")
    label = row.label if row.label and row.label != item_name else ""
    detail = f"{label}: {how}" if label and how else label or how
    return NoticeLine(item=(item_name or row.label or "-")[:64], detail=detail[:200], amount=Decimal(row.amount))


async def lines_of(conn: AsyncConnection, bill_ids: Sequence[int],
                   item_names: dict[int, str]) -> dict[int, list[NoticeLine]]:
    """The notice lines of each bill, in the bill's order."""
    if not bill_ids:
        return {}
    rows = (await conn.execute(select(BillLine.bill_id, BillLine.fee_item_id, BillLine.label, BillLine.quantity,
                                      BillLine.unit, BillLine.unit_price, BillLine.amount)
                               .where(BillLine.bill_id.in_(sorted(set(bill_ids))))
                               .order_by(BillLine.bill_id, BillLine.id))).all()
    return {bill_id: [notice_line(item_names.get(row.fee_item_id, ""), row) for row in group]
            for bill_id, group in groupby(rows, key=lambda row: row.bill_id)}


def bill_document(*, locale: str, estate_name: str, unit: str, resident: str, period: str, reference: str,
                  issued_on: date, due_date: date, lines: list[NoticeLine], bill_total: Decimal,
                  figures: BillFigures, payment_instructions: str) -> NoticeDocument:
    """The 缴费通知单: the bill's lines, then what reversals and credits took off and unsettled late fees, so
    its total is the amount due."""
    words = _WORDS[locale]
    extra = []
    reversed_ = Decimal(bill_total) - figures.charged
    settled = figures.charged - figures.outstanding
    for item, amount in ((words["reversed"], -reversed_), (words["settled"], -settled),
                         (words["late_fee"], figures.late_fees)):
        if amount != 0:
            extra.append(NoticeLine(item=item, amount=amount))
    room = MAX_LINES - len(extra)
    if len(lines) > room:
        rest = lines[room - 1:]
        lines = lines[:room - 1] + [NoticeLine(item=words["rest"], detail=words["rest_detail"].format(n=len(rest)),
                                               amount=sum((line.amount for line in rest), ZERO))]
    return NoticeDocument(title=words["title"], estate_name=estate_name, unit=unit, resident=resident, period=period,
                          reference=reference, issued_on=issued_on, due_date=due_date, lines=lines + extra,
                          payment_instructions=payment_instructions,
                          note=words["paid_up"] if figures.amount_due <= 0 else "", locale=locale)  # type: ignore[arg-type]
