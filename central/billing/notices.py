"""Billing's notices: a bill notice per bill, a payment reminder before the due date, dunning after it.

Everything is queued through notify (central/notify/service.py) in the caller's transaction, keyed so that
running a step again queues nothing twice: bill_notice, payment_reminder, dunning_1 and dunning_2 of a bill all
use the key {period}:bill-{id} (a restated reminder adds :due-{amount}:after-{id of the one it replaces}).
Amounts come from the ledger (settlement is derived, ledger.position), never from the bill alone.

- After a run posts, `notify_bills` queues each bill's notice (one transaction per batch, so a large estate's
  ingest is not locked out) and a reminder `reminder_days` before the due date at `send_hour`, estate time.
- At payment (cashier.record_money and discounts) `refresh_reminders` cancels the unit's queued reminders of
  bills now settled and restates those whose amount changed; `daily_dunning` does the same for the whole
  estate, then queues dunning_1 and dunning_2 at `dunning_1_days` and `dunning_2_days` overdue.
docs/billing.md ("Notices, reminders and dunning") has the decisions.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.auth.principal import Principal
from central.billing import notice_documents as docs
from central.billing.ledger import balances, position
from central.billing.models import Bill, FeeItem, Posting
from central.metering.common import estate_zone
from central.notify import service as notify
from central.notify.errors import Conflict as NotifyConflict
from central.notify.models import CHANNELS, Notification
from central.notify.service import NoticeRequest
from central.registry.common import aware
from central.registry.models import Estate
from estatelink import wire

Progress = Callable[[str, int, int], None]
_KEY = re.compile(r"^(\d{4}-\d{2}):bill-(\d+)(?::|$)")


@dataclass(frozen=True, slots=True)
class NoticePolicy:
    """When notices go and what they say; the defaults are docs/billing.md's."""

    reminder_days: int = 3
    """A reminder goes this many days before the due date (none if that time has passed when the bill is posted)."""
    send_hour: int = 9
    """Reminders and dunning go at this hour, estate time (the daily job runs at night)."""
    dunning_1_days: int = 7
    dunning_2_days: int = 30
    final_days: int = 15
    """dunning_2 asks for payment by today + final_days."""
    payment_instructions: str | None = None
    """None: docs.DEFAULT_PAYMENT_INSTRUCTIONS (the registry has no per-estate setting for it)."""
    locale: str = "zh-CN"
    batch: int = 500

    def __post_init__(self) -> None:
        if not 0 <= self.send_hour <= 23:
            raise ValueError(f"send_hour must be an hour 0..23, got {self.send_hour}")
        if self.reminder_days < 0 or not 0 < self.dunning_1_days < self.dunning_2_days or self.final_days < 1:
            raise ValueError("expected reminder_days >= 0, 0 < dunning_1_days < dunning_2_days and final_days >= 1")
        if self.batch < 1:
            raise ValueError("batch must be at least 1")


DEFAULT = NoticePolicy()


def bill_key(period: str, bill_id: int) -> str:
    """The dedup key of every notice about one bill."""
    return f"{period}:bill-{bill_id}"


def restated_key(period: str, bill_id: int, due: Decimal, replaces: int) -> str:
    """The key of a reminder restated at `due` in place of reminder `replaces`: unique per restatement (a bill can
    come back to an amount it once named, after a reversal, and the cancelled reminder keeps its key), and the same
    if the step runs again (a reminder is cancelled, and so replaced, once)."""
    return f"{bill_key(period, bill_id)}:due-{due}:after-{replaces}"


def local_time(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """`hour`:00 on `day`, estate time, as UTC (notify stores UTC; SQLite would keep another offset as written)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)


def _utc(now: datetime | None) -> datetime:
    return (now or wire.utc_now()).astimezone(UTC)


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


@dataclass(frozen=True, slots=True)
class _Estate:
    code: str
    name: str
    zone: ZoneInfo
    items: dict[int, str]


async def _estate(conn: AsyncConnection, estate: str) -> _Estate:
    name = await conn.scalar(select(Estate.name).where(Estate.code == estate))
    items = dict((await conn.execute(select(FeeItem.id, FeeItem.name).where(FeeItem.estate == estate))).all())
    return _Estate(estate, name or estate, await estate_zone(conn, estate), items)


async def _positions(conn: AsyncConnection, unit_ids: Sequence[int]) -> dict[int, docs.BillFigures]:
    """Per bill of these units: its figures now (one query for the batch)."""
    found: dict[int, docs.BillFigures] = {}
    if not unit_ids:
        return found
    rows = (await conn.execute(select(Posting).where(Posting.unit_id.in_(sorted(set(unit_ids))))
                               .order_by(Posting.unit_id, Posting.id))).all()
    for _unit_id, history in groupby(rows, key=lambda row: row.unit_id):
        found.update(docs.figures(position(list(history))))
    return found


async def _existing(conn: AsyncConnection, estate: str, purposes: Sequence[str], keys: Sequence[str]) -> set[tuple]:
    """(purpose, dedup_key) of the notices already queued (on any channel, in any state)."""
    found: set[tuple] = set()
    for channel in CHANNELS if keys else ():
        for purpose in purposes:  # equalities on the unique index's first three columns: a lookup per key
            found.update((purpose, key) for key in await conn.scalars(select(Notification.dedup_key).where(
                Notification.estate == estate, Notification.channel == channel, Notification.purpose == purpose,
                Notification.dedup_key.in_(list(keys)))))
    return found


def _request(facts: _Estate, policy: NoticePolicy, recipient: docs.Recipient, unit_id: int, purpose: str, key: str,
             data: dict[str, Any], **extra: Any) -> NoticeRequest:
    return NoticeRequest(estate=facts.code, channel=recipient.channel, recipient=recipient.address,  # type: ignore[arg-type]
                         purpose=purpose, dedup_key=key, template=purpose, locale=policy.locale, unit_id=unit_id,
                         resident_id=recipient.resident_id, data=data, **extra)


# --- Bill notices and reminders ---------------------------------------------------------------------------------


async def _bill_ids(conn: AsyncConnection, estate: str, period: str | None, due_from: date | None) -> list[int]:
    stmt = select(Bill.id).where(Bill.estate == estate).order_by(Bill.id)
    if period is not None:
        stmt = stmt.where(Bill.period == period)
    if due_from is not None:  # due_months is at most 12: older periods are all due
        year, month = divmod(due_from.year * 12 + due_from.month - 1 - 12, 12)
        stmt = stmt.where(Bill.period >= f"{year:04d}-{month + 1:02d}", Bill.due_date >= due_from)
    return list(await conn.scalars(stmt))


async def _notice_batch(conn: AsyncConnection, actor: Principal, facts: _Estate, bill_ids: Sequence[int],
                        now: datetime, policy: NoticePolicy, tally: Counter) -> None:
    bills = (await conn.execute(select(Bill).where(Bill.id.in_(list(bill_ids))).order_by(Bill.id))).all()
    seen = await _existing(conn, facts.code, ("bill_notice",), [bill_key(b.period, b.id) for b in bills])
    todo = [b for b in bills if ("bill_notice", bill_key(b.period, b.id)) not in seen]
    tally["bills"] += len(bills)
    tally["already"] += len(bills) - len(todo)
    today = now.astimezone(facts.zone).date()
    who = await docs.recipients(conn, [b.unit_id for b in todo], today)
    tally["no_contact"] += sum(1 for b in todo if b.unit_id not in who)
    todo = [b for b in todo if b.unit_id in who]
    if not todo:
        return
    labels = await docs.unit_labels(conn, [b.unit_id for b in todo])
    owed = await _positions(conn, [b.unit_id for b in todo])
    lines = await docs.lines_of(conn, [b.id for b in todo if who[b.unit_id].channel == "email"], facts.items)
    requests = []
    for bill in todo:
        recipient, figures = who[bill.unit_id], owed.get(bill.id, docs.NOTHING)
        reference = docs.bill_reference(facts.code, bill.period, bill.id)
        how = docs.instructions(policy.payment_instructions, policy.locale, reference)
        common = {"estate_name": facts.name, "resident_name": recipient.name, "unit": labels[bill.unit_id],
                  "period": bill.period, "due_date": bill.due_date, "payment_instructions": how}
        document = None
        if recipient.channel == "email":
            document = docs.bill_document(
                locale=policy.locale, estate_name=facts.name, unit=labels[bill.unit_id], resident=recipient.name,
                period=bill.period, reference=reference, issued_on=aware(bill.issued_at).astimezone(facts.zone).date(),
                due_date=bill.due_date, lines=lines.get(bill.id, []), bill_total=bill.total, figures=figures,
                payment_instructions=how)
        key = bill_key(bill.period, bill.id)
        requests.append(_request(facts, policy, recipient, bill.unit_id, "bill_notice", key,
                                 {**common, "total": figures.amount_due}, document=document))
        remind_at = local_time(bill.due_date - timedelta(days=policy.reminder_days), policy.send_hour, facts.zone)
        if figures.amount_due > 0 and remind_at > now:
            requests.append(_request(facts, policy, recipient, bill.unit_id, "payment_reminder", key,
                                     {**common, "amount_due": figures.amount_due}, send_after=remind_at))
    for request, done in zip(requests, await notify.enqueue_many(conn, actor, requests, now=now)):
        if request.purpose == "payment_reminder":
            tally["reminders"] += done.created
        elif done.created:
            tally["queued"] += 1
            tally[request.channel] += 1
        else:
            tally["already"] += 1


def _summary(tally: Counter) -> dict[str, int]:
    return {name: tally[name] for name in ("bills", "queued", "already", "no_contact", "email", "sms", "reminders")}


async def queue_bill_notices(conn: AsyncConnection, actor: Principal, estate: str, period: str,
                             now: datetime | None = None, policy: NoticePolicy = DEFAULT) -> dict[str, int]:
    """Queue a bill notice (and a reminder before the due date) for every bill of the period that has none yet, in
    the caller's transaction, a batch at a time; returns the counts (queued, already, no_contact, ...)."""
    now, tally = _utc(now), Counter()
    facts = await _estate(conn, estate)
    for chunk in _chunks(await _bill_ids(conn, estate, period, None), policy.batch):
        await _notice_batch(conn, actor, facts, chunk, now, policy, tally)
    return _summary(tally)


async def notify_bills(engine: AsyncEngine, actor: Principal, estate: str, *, period: str | None = None,
                       due_from: date | None = None, now: datetime | None = None, policy: NoticePolicy = DEFAULT,
                       progress: Progress | None = None) -> dict[str, int]:
    """queue_bill_notices with a transaction per batch: the bills of a period, or every bill not due before
    `due_from` (the daily catch-up: one-off charges, a run posted from the command line)."""
    now, tally = _utc(now), Counter()
    async with engine.connect() as conn:
        facts = await _estate(conn, estate)
        ids = await _bill_ids(conn, estate, period, due_from)
    for done, chunk in enumerate(_chunks(ids, policy.batch)):
        async with engine.begin() as conn:
            await _notice_batch(conn, actor, facts, chunk, now, policy, tally)
        if progress:
            progress("notices", min((done + 1) * policy.batch, len(ids)), len(ids))
    return _summary(tally)


# --- Reminders of bills paid meanwhile --------------------------------------------------------------------------


async def _refresh(conn: AsyncConnection, actor: Principal, facts: _Estate, reminders: Sequence[Any],
                   now: datetime, tally: Counter) -> None:
    owed = await _positions(conn, [r.unit_id for r in reminders])
    restated = []
    for reminder in reminders:
        match = _KEY.match(reminder.dedup_key)
        if match is None:
            continue  # not one of billing's keys
        due = owed.get(int(match.group(2)), docs.NOTHING).amount_due
        stated = reminder.template_data.get("amount_due")
        if stated is not None and due == Decimal(stated):
            continue
        try:
            await notify.cancel(conn, actor, reminder.id, now)
        except NotifyConflict:
            continue  # a sender took it meanwhile: it is going out, and the payment must not fail for it
        if due <= 0:
            tally["cancelled"] += 1
        else:
            restated.append(NoticeRequest(
                estate=facts.code, channel=reminder.channel, recipient=reminder.recipient, purpose="payment_reminder",
                dedup_key=restated_key(match.group(1), int(match.group(2)), due, reminder.id),
                template="payment_reminder",
                data={**reminder.template_data, "amount_due": due}, locale=reminder.locale, unit_id=reminder.unit_id,
                resident_id=reminder.resident_id, send_after=aware(reminder.next_attempt_at)))
    for done in await notify.enqueue_many(conn, actor, restated, now=now):
        tally["restated"] += done.created


async def refresh_reminders(conn: AsyncConnection, actor: Principal, estate: str,
                            unit_ids: Sequence[int] | None = None, now: datetime | None = None,
                            batch: int = 1000) -> dict[str, int]:
    """Cancel the queued reminders of bills now settled and restate (cancel and queue anew, same time) those whose
    amount due changed, for some units (at a payment) or the whole estate (daily); returns how many of each."""
    now, tally = _utc(now), Counter()
    stmt = select(Notification.id).where(Notification.estate == estate, Notification.purpose == "payment_reminder",
                                         Notification.status == "queued").order_by(Notification.id)
    if unit_ids is not None:
        stmt = stmt.where(Notification.unit_id.in_(sorted(set(unit_ids))))
    ids = list(await conn.scalars(stmt))  # the queued ones only: a small part of the estate's notices
    facts = await _estate(conn, estate) if ids else None
    for chunk in _chunks(ids, batch):
        reminders = (await conn.execute(
            select(Notification.id, Notification.unit_id, Notification.channel, Notification.recipient,
                   Notification.locale, Notification.resident_id, Notification.dedup_key,
                   Notification.template_data, Notification.next_attempt_at)
            .where(Notification.id.in_(list(chunk)), Notification.status == "queued"))).all()
        assert facts is not None
        await _refresh(conn, actor, facts, reminders, now, tally)
    return {"cancelled": tally["cancelled"], "restated": tally["restated"]}


async def after_payment(conn: AsyncConnection, actor: Principal, estate: str, unit_id: int) -> None:
    """The cashier's hook, in the payment's transaction: the unit's reminders follow what it now owes."""
    await refresh_reminders(conn, actor, estate, [unit_id])


# --- Dunning ----------------------------------------------------------------------------------------------------


async def queue_dunning(conn: AsyncConnection, actor: Principal, estate: str, today: date,
                        now: datetime | None = None, policy: NoticePolicy = DEFAULT) -> dict[str, int]:
    """dunning_1 for each bill unpaid `dunning_1_days` after its due date, dunning_2 (instead) from
    `dunning_2_days`; each at most once per bill, with the amount due including late fees."""
    now, tally = _utc(now), Counter()
    facts = await _estate(conn, estate)
    send_after = max(now, local_time(today, policy.send_hour, facts.zone))
    for chunk in _chunks(sorted(await balances(conn, estate, only="debit")), policy.batch):
        owed = await _positions(conn, chunk)
        unpaid = [bill_id for bill_id, figures in owed.items() if figures.amount_due > 0]
        bills = (await conn.execute(select(Bill.id, Bill.unit_id, Bill.period, Bill.due_date).where(
            Bill.id.in_(unpaid), Bill.due_date <= today - timedelta(days=policy.dunning_1_days))
            .order_by(Bill.id))).all() if unpaid else []
        seen = await _existing(conn, estate, ("dunning_1", "dunning_2"), [bill_key(b.period, b.id) for b in bills])
        todo = []
        for bill in bills:
            days = (today - bill.due_date).days
            stage = "dunning_2" if days >= policy.dunning_2_days else "dunning_1"
            key = bill_key(bill.period, bill.id)
            if (stage, key) in seen or ("dunning_2", key) in seen:
                tally["already"] += 1
            else:
                todo.append((bill, stage, days))
        who = await docs.recipients(conn, [b.unit_id for b, _, _ in todo], today)
        labels = await docs.unit_labels(conn, [b.unit_id for b, _, _ in todo if b.unit_id in who])
        requests = []
        for bill, stage, days in todo:
            recipient, figures = who.get(bill.unit_id), owed[bill.id]
            if recipient is None:
                tally["no_contact"] += 1
                continue
            reference = docs.bill_reference(estate, bill.period, bill.id)
            data: dict[str, Any] = {
                "estate_name": facts.name, "resident_name": recipient.name, "unit": labels[bill.unit_id],
                "period": bill.period, "due_date": bill.due_date, "days_overdue": days,
                "amount_due": figures.amount_due, "late_fee": figures.late_fees,
                "payment_instructions": docs.instructions(policy.payment_instructions, policy.locale, reference)}
            if stage == "dunning_2":
                data["final_date"] = today + timedelta(days=policy.final_days)
            requests.append(_request(facts, policy, recipient, bill.unit_id, stage, bill_key(bill.period, bill.id),
                                     data, send_after=send_after))
        for request, done in zip(requests, await notify.enqueue_many(conn, actor, requests, now=now)):
            tally[request.purpose if done.created else "already"] += 1
    return {name: tally[name] for name in ("dunning_1", "dunning_2", "already", "no_contact")}


async def daily_dunning(conn: AsyncConnection, actor: Principal, estate: str, today: date,
                        now: datetime | None = None, policy: NoticePolicy = DEFAULT) -> dict[str, Any]:
    """The daily step after late fees: reminders follow what each unit owes (settled ones are cancelled), then
    the dunning notices due today are queued."""
    reminders = await refresh_reminders(conn, actor, estate, now=now)
    return {"reminders": reminders, **await queue_dunning(conn, actor, estate, today, now, policy)}

