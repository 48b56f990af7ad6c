"""Billing's notices as a resident and a cashier see them: one bill notice per bill (e-mail with the 缴费通知单 PDF,
or SMS), a reminder before the due date that a payment withdraws, dunning at 7 and 30 days overdue with the late
fees in the amount, and nothing for a bill that is paid.

Estate demo (Asia/Shanghai): 3-1201's owner 张三 has an e-mail address (and a phone), 3-1202's owner 李四 only a
phone, 3-1203 has a tenant with an e-mail but no owner: bills go to owners, so it has no contact. March 2025 is
billed on 2 April and due on 30 April.
"""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
from sqlalchemy import select

from central.billing import cashier, charges, late_fees, notices
from central.billing.ledger import unit_rows
from central.billing.notices import NoticePolicy
from central.billing.reports import bills_of
from central.billing.runner import BillRunner, daily_notices
from central.notify.config import NotifyConfig
from central.notify.models import Notification
from central.notify.sender import NotifySender
from central.notify.sms import SimulatedSmsProvider
from central.notify.smtp import SmtpTransport
from central.registry import residents
from estatelink import wire
from tests.billing.conftest import OFFICE, add_item, dec, local, post_run, setup_march
from tests.notify import support
from tests.notify.support import Clock

POSTED = local(2025, 4, 2, 10)
REMINDER_AT = local(2025, 4, 27, 9)
inbox, smtp_server = support.inbox, support.smtp_server
TOTALS = {"3-1201": dec("1104.81"), "3-1202": dec("608.88"), "3-1203": dec("426.79")}


@pytest.fixture
async def march(engine, demo, people) -> dict[str, int]:
    """March posted; returns bill ids by unit."""
    await setup_march(engine, demo)
    await post_run(engine, "2025-03")
    async with engine.connect() as conn:
        bills = await charges_by_unit(conn, demo)
    assert {unit: bill["total"] for unit, bill in bills.items()} == TOTALS
    return {unit: bill["id"] for unit, bill in bills.items()}


async def charges_by_unit(conn, demo) -> dict[str, dict]:
    found = await bills_of(conn, estate="demo", period="2025-03")
    return {unit: next(b for b in found if b["unit_id"] == unit_id) for unit, unit_id in demo.items()
            if unit.startswith("3-")}


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Central's clock (wire.utc_now), driven: payments, their hooks and the sender all read it."""
    clock = Clock()
    clock.now = POSTED.astimezone(UTC)
    monkeypatch.setattr(wire, "utc_now", clock)
    return clock


def sender_for(engine, port: int, clock: Clock, sms: SimulatedSmsProvider) -> NotifySender:
    config = NotifyConfig.model_validate({
        "poll_interval_s": 0.05, "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout_s": 5,
                                          "from_address": "Demo 物业 <notice@demo.example>"}})
    return NotifySender(engine, config, email=SmtpTransport(config.smtp, None), sms=sms, clock=clock)


async def queue(engine, now=POSTED, **options) -> dict[str, int]:
    async with engine.begin() as conn:
        return await notices.queue_bill_notices(conn, OFFICE, "demo", "2025-03", now=now, **options)


async def notes(engine, purpose: str | None = None) -> list:
    async with engine.connect() as conn:
        stmt = select(Notification).where(Notification.estate == "demo").order_by(Notification.id)
        if purpose is not None:
            stmt = stmt.where(Notification.purpose == purpose)
        return list((await conn.execute(stmt)).all())


def utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def pay(engine, unit_id: int, amount: str, prepayment: bool = False) -> None:
    async with engine.begin() as conn:
        await cashier.take_payment(conn, OFFICE, unit_id, cashier.PaymentBody(
            method="cash", amount=amount, prepayment=prepayment))


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


async def test_each_bill_gets_one_notice_and_running_again_changes_nothing(engine, demo, march):
    first = await queue(engine)
    assert first == {"bills": 3, "queued": 2, "already": 0, "no_contact": 1, "email": 1, "sms": 1, "reminders": 2}
    assert await queue(engine) == {"bills": 3, "queued": 0, "already": 2, "no_contact": 1, "email": 0, "sms": 0,
                                   "reminders": 0}
    again = await notices.notify_bills(engine, OFFICE, "demo", period="2025-03", now=POSTED,
                                       policy=NoticePolicy(batch=1))
    assert (again["queued"], again["already"], again["no_contact"]) == (0, 2, 1)

    sent = await notes(engine, "bill_notice")
    assert [(n.unit_id, n.channel, n.recipient, n.dedup_key) for n in sent] == [
        (demo["3-1201"], "email", "zhang.san@example.com", f"2025-03:bill-{march['3-1201']}"),
        (demo["3-1202"], "sms", "13900139000", f"2025-03:bill-{march['3-1202']}")]
    assert sent[1].body == "【Demo】李四您好，3栋1202室 2025-03 费用合计 608.88 元，请于 2025-04-30 前缴纳。"
    assert sent[0].template_data["total"] == "1104.81"
    reminders = await notes(engine, "payment_reminder")
    assert [(n.unit_id, n.channel, utc(n.next_attempt_at)) for n in reminders] == [
        (demo["3-1201"], "email", REMINDER_AT), (demo["3-1202"], "sms", REMINDER_AT)]
    assert all(utc(n.next_attempt_at) < local(2025, 4, 30) for n in reminders)


async def test_the_resident_receives_the_bill_by_email_with_its_pdf_or_by_sms(engine, demo, march, smtp_server,
                                                                              inbox):
    await queue(engine)
    clock, sms = Clock(), SimulatedSmsProvider()
    clock.now = POSTED.astimezone(UTC) + timedelta(minutes=5)
    sender = sender_for(engine, smtp_server.port, clock, sms)
    assert await sender.run_once() == 2, "the bill notices go now, the reminders on 27 April"

    [message] = inbox.messages
    assert message["To"] == "zhang.san@example.com"
    assert message["Subject"] == "【Demo】2025-03 缴费通知（3栋1201室）"
    body = message.get_body(("plain",)).get_content()
    assert "尊敬的张三" in body and "1104.81" in body and "2025-04-30" in body
    assert f"demo-2025-03-B{march['3-1201']}" in body, "the bill number to quote when paying"
    [attachment] = list(message.iter_attachments())
    text = pdf_text(attachment.get_content())
    async with engine.connect() as conn:
        bill = await charges.get_bill(conn, march["3-1201"])
    assert len(bill["lines"]) >= 5
    for expected in ("缴费通知单", "Demo", "3栋1201室", "张三", "2025-03", f"demo-2025-03-B{march['3-1201']}",
                     "2025-04-30", "1104.81", "壹仟壹佰零肆元捌角壹分", "Property", "Water", "Parking", "Garbage",
                     "Lobby Power", "× 3.45 元/m³", "300.00"):
        assert expected in text, expected
    for line in bill["lines"]:
        assert str(line["amount"]) in text, line

    [texted] = sms.sent
    assert texted.recipient == "13900139000" and "608.88" in texted.text and "2025-04-30" in texted.text
    assert await sender.run_once() == 0


async def test_a_payment_withdraws_the_reminder_and_a_part_payment_restates_it(engine, demo, march, smtp_server,
                                                                               inbox, clock):
    await queue(engine)
    sms = SimulatedSmsProvider()
    sender = sender_for(engine, smtp_server.port, clock, sms)
    assert await sender.run_once() == 2  # the bill notices
    clock.advance(days=8)  # 10 April
    await pay(engine, demo["3-1201"], "1104.81")
    await pay(engine, demo["3-1202"], "500.00")
    by_unit = {(n.unit_id, n.status): n for n in await notes(engine, "payment_reminder")}
    assert set(by_unit) == {(demo["3-1201"], "cancelled"), (demo["3-1202"], "cancelled"), (demo["3-1202"], "queued")}
    restated = by_unit[(demo["3-1202"], "queued")]
    assert restated.template_data["amount_due"] == "108.88" and utc(restated.next_attempt_at) == REMINDER_AT

    clock.now = REMINDER_AT.astimezone(UTC) - timedelta(minutes=1)
    assert await sender.run_once() == 0
    clock.advance(minutes=1)
    assert await sender.run_once() == 1
    assert [m["Subject"] for m in inbox.messages] == ["【Demo】2025-03 缴费通知（3栋1201室）"], "no reminder: paid"
    assert [s.text for s in sms.sent][1:] == ["【Demo】3栋1202室 2025-03 账单尚欠 108.88 元，2025-04-30 到期，请及时缴纳。"]

    await pay(engine, demo["3-1202"], "108.88")
    async with engine.begin() as conn:
        assert await notices.daily_dunning(conn, OFFICE, "demo", date(2025, 5, 20)) == {
            "reminders": {"cancelled": 0, "restated": 0}, "dunning_1": 0, "dunning_2": 0, "already": 0,
            "no_contact": 1}, "paid in full: nobody to dun but 3-1203 (no contact)"


async def test_the_daily_step_cancels_the_reminder_of_a_bill_settled_without_the_desk(engine, demo, march):
    await queue(engine)
    async with engine.connect() as conn:
        water = next(r for r in await unit_rows(conn, demo["3-1202"]) if r.kind == "charge")
    await pay(engine, demo["3-1202"], "600.00")  # 8.88 short: the reminder is restated
    async with engine.begin() as conn:
        # a correction settles the rest; reversals have no hook, the daily step sees it
        await cashier.reverse(conn, OFFICE, water.id, cashier.ReversalBody(note="meter misread"))
        swept = await notices.daily_dunning(conn, OFFICE, "demo", date(2025, 4, 20), now=POSTED)
    assert swept["reminders"] == {"cancelled": 1, "restated": 0}
    assert [n.status for n in await notes(engine, "payment_reminder") if n.unit_id == demo["3-1202"]] == [
        "cancelled", "cancelled"]


async def test_a_prepaid_bill_is_noticed_as_settled_and_gets_no_reminder(engine, demo, people):
    async with engine.begin() as conn:
        await residents.add_occupancy(conn, OFFICE, people["zhang"], residents.OccupancyCreate(
            unit_id=demo["3-1203"], relation="owner", move_in=date(2021, 1, 1)))
    await pay(engine, demo["3-1203"], "1000.00", prepayment=True)
    await setup_march(engine, demo)
    await post_run(engine, "2025-03")
    summary = await queue(engine)
    assert (summary["queued"], summary["no_contact"], summary["reminders"]) == (3, 0, 2)
    [notice] = [n for n in await notes(engine, "bill_notice") if n.unit_id == demo["3-1203"]]
    assert notice.template_data["total"] == "0.00"
    lines = [(line["item"], line["amount"]) for line in notice.document["lines"]]
    assert lines[-1] == ("预存/已缴抵扣", "-426.79")
    assert sum(dec(amount) for _, amount in lines) == dec("0.00")
    assert notice.document["note"] == "本账单已全额抵扣，无需另行缴费。"
    assert demo["3-1203"] not in {n.unit_id for n in await notes(engine, "payment_reminder")}


async def test_dunning_at_7_and_30_days_overdue_once_each_with_late_fees(engine, demo, march):
    await queue(engine)
    await pay(engine, demo["3-1201"], "1104.81")
    await pay(engine, demo["3-1202"], "500.00")

    async def day(when: date) -> dict:
        async with engine.begin() as conn:
            await late_fees.assess(conn, OFFICE, "demo", when)
            return await notices.queue_dunning(conn, OFFICE, "demo", when, now=local(when.year, when.month,
                                                                                     when.day, 3))

    assert await day(date(2025, 5, 6)) == {"dunning_1": 0, "dunning_2": 0, "already": 0, "no_contact": 0}
    # 3-1202 owes 108.88 and 7 days of late fees on it (0.38); 3-1203 owes everything but has no contact
    assert await day(date(2025, 5, 7)) == {"dunning_1": 1, "dunning_2": 0, "already": 0, "no_contact": 1}
    assert (await day(date(2025, 5, 7)))["dunning_1"] == 0
    [first] = await notes(engine, "dunning_1")
    assert (first.unit_id, first.channel, first.recipient) == (demo["3-1202"], "sms", "13900139000")
    assert {k: first.template_data[k] for k in ("amount_due", "late_fee", "days_overdue")} == {
        "amount_due": "109.26", "late_fee": "0.38", "days_overdue": "7"}
    assert first.body == "【Demo】3栋1202室 2025-03 账单已逾期 7 天，尚欠 109.26 元，请尽快缴纳。"
    assert utc(first.next_attempt_at) == local(2025, 5, 7, 9), "not at 3 a.m.: at nine, estate time"

    assert await day(date(2025, 5, 29)) == {"dunning_1": 0, "dunning_2": 0, "already": 1, "no_contact": 1}
    # 23 more days on 108.88: 1.25, so 1.63 of late fees in all
    assert (await day(date(2025, 5, 30)))["dunning_2"] == 1
    assert (await day(date(2025, 5, 31)))["dunning_2"] == 0
    [second] = await notes(engine, "dunning_2")
    assert second.unit_id == demo["3-1202"]
    assert {k: second.template_data[k] for k in ("amount_due", "late_fee", "days_overdue", "final_date")} == {
        "amount_due": "110.51", "late_fee": "1.63", "days_overdue": "30", "final_date": "2025-06-14"}
    dunned = {n.unit_id for n in await notes(engine) if n.purpose.startswith("dunning")}
    assert dunned == {demo["3-1202"]}, "the paid bill of 3-1201 is never dunned"


async def test_the_daily_job_duns_and_a_run_through_the_runner_queues_notices(engine, demo, people):
    await setup_march(engine, demo)
    runner = BillRunner(engine)
    await runner.wait(await runner.start(OFFICE, "demo", "2025-03", "post"))
    sent = await notes(engine, "bill_notice")
    assert sorted(n.unit_id for n in sent) == [demo["3-1201"], demo["3-1202"]]
    assert await notes(engine, "payment_reminder") == [], "posted today for a due date long past: no reminder"

    await daily_notices(engine, "demo", date(2025, 5, 7))
    await daily_notices(engine, "demo", date(2025, 5, 8))
    dunned = await notes(engine, "dunning_1")
    assert [(n.unit_id, n.template_data["amount_due"]) for n in dunned] == [
        (demo["3-1201"], "1104.81"), (demo["3-1202"], "608.88")], "no late fees assessed: none in the amount"


async def test_a_one_off_charge_is_noticed_by_the_daily_catch_up(engine, demo, people):
    async with engine.begin() as conn:
        item = await add_item(conn, "key-card", "fixed", {"amount": "25.00", "label": "card"})
        bill = await charges.charge(conn, OFFICE, demo["3-1201"], charges.ChargeBody(fee_item_id=item["id"],
                                                                                   quantity=2))
    today = bill["due_date"] - timedelta(days=20)
    await daily_notices(engine, "demo", today)
    await daily_notices(engine, "demo", today)
    [notice] = await notes(engine, "bill_notice")
    assert notice.dedup_key == f"{bill['period']}:bill-{bill['id']}" and notice.template_data["total"] == "50.00"
    assert [(line["item"], line["detail"], line["amount"]) for line in notice.document["lines"]] == [
        ("Key Card", "2 card × 25.00 元/card", "50.00")]


async def test_a_reversed_part_payment_restates_the_reminder_at_the_amount_it_once_named(engine, demo, march):
    # the cancelled reminder of that amount must not swallow the new one as a duplicate
    unit = demo["3-1202"]
    await queue(engine)
    await pay(engine, unit, "500.00")  # 608.88 due: restated at 108.88
    await pay(engine, unit, "8.88")  # restated at 100.00, the 108.88 one cancelled
    async with engine.connect() as conn:
        wrong = [r for r in await unit_rows(conn, unit) if r.kind == "payment"][-1]
    async with engine.begin() as conn:
        await cashier.reverse(conn, OFFICE, wrong.id, cashier.ReversalBody(note="card payment failed"))
        swept = await notices.daily_dunning(conn, OFFICE, "demo", date(2025, 4, 20), now=POSTED)
    assert swept["reminders"] == {"cancelled": 0, "restated": 1}
    queued = [n for n in await notes(engine, "payment_reminder") if n.unit_id == unit and n.status == "queued"]
    assert [n.template_data["amount_due"] for n in queued] == ["108.88"]
