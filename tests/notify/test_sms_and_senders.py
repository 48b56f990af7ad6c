"""SMS through the simulated provider with retries, several senders at once, and the sender inside central."""
from __future__ import annotations

import asyncio
from datetime import date

import pytest
from aiohttp import web

from central.config import CentralConfig
from central.keys import CONFIG, ENGINE
from central.notify import service
from central.notify.sender import NotifySender, notify_sender_ctx
from central.notify.sms import SimulatedSmsProvider, segments
from tests.notify.conftest import OFFICE, bill_notice, make_sender, notify_config
from tests.support.services import wait_until


async def queue_all(engine, requests, clock):
    async with engine.begin() as conn:
        return await service.enqueue_many(conn, OFFICE, requests, now=clock())


async def test_sms_goes_through_the_provider_and_is_retried(engine, demo, clock):
    [queued] = await queue_all(engine, [bill_notice(demo, channel="sms", recipient="+8613800138000")], clock)
    provider = SimulatedSmsProvider()
    provider.fail_next(2)
    sender = NotifySender(engine, notify_config(25, smtp={"host": None}, sms={"provider": "simulated"}), sms=provider,
                          clock=clock)
    for wait in (0, 60, 120):
        clock.advance(seconds=wait)
        assert await sender.run_once() == 1
    assert provider.calls == 3
    [sent] = provider.sent
    assert sent.recipient == "+8613800138000" and sent.notification_id == queued.id
    assert sent.text == "【演示花园】张三您好，3栋1201室 2026-11 费用合计 322.65 元，请于 2026-11-30 前缴纳。"
    assert sent.segments == 1
    async with engine.connect() as conn:
        done = await service.get_notification(conn, queued.id)
    assert (done["status"], done["provider_id"]) == ("sent", sent.provider_id)
    assert [a["outcome"] for a in done["attempt_log"]] == ["retry", "retry", "sent"]
    assert done["attempt_log"][0]["error"] == "simulated provider outage"


async def test_a_refused_sms_fails_at_once_and_email_waits_without_smtp(engine, demo, clock):
    sms, mail = await queue_all(engine, [bill_notice(demo, channel="sms", recipient="13800138000"),
                                         bill_notice(demo)], clock)
    provider = SimulatedSmsProvider()
    provider.fail_next(1, permanent=True, message="number not in service")
    sender = NotifySender(engine, notify_config(25, smtp={"host": None}, sms={"provider": "simulated"}), sms=provider,
                          clock=clock)
    assert sender.channels == ("sms",)
    assert await sender.run_once() == 1
    async with engine.connect() as conn:
        failed = await service.get_notification(conn, sms.id)
        waiting = await service.get_notification(conn, mail.id)
    assert (failed["status"], failed["last_error"]) == ("failed_permanently", "number not in service")
    assert (waiting["status"], waiting["attempts"]) == ("queued", 0), "no transport: it waits, it is not failed"


def test_sms_segments():
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("费" * 70) == 1 and segments("费" * 71) == 2 and segments("费" * 135) == 3


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite serves one central process only
async def test_two_senders_never_send_one_notice_twice(engine, demo, clock, smtp_server, inbox):
    await queue_all(engine, [bill_notice(demo, period=f"2026-{m:02d}", document=False) for m in range(1, 13)] +
                    [bill_notice(demo, unit="3-1202", period=f"2026-{m:02d}", recipient=f"t{m}@example.com",
                                 document=False) for m in range(1, 13)], clock)
    senders = [make_sender(engine, clock, smtp_server.port) for _ in range(3)]
    counts = await asyncio.gather(*(s.run_once() for s in senders))
    assert sum(counts) == 24
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(ids) == 24 and len(set(ids)) == 24
    async with engine.connect() as conn:
        rows = await service.list_notifications(conn, "demo", limit=100)
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}


async def test_central_runs_the_sender_when_smtp_is_configured(engine, demo, smtp_server, inbox, database_url):
    async with engine.begin() as conn:
        queued = await service.enqueue(conn, OFFICE, bill_notice(demo))
    app = web.Application()
    app[CONFIG] = CentralConfig.model_validate({"database": {"url": database_url},
                                                "notify": notify_config(smtp_server.port).model_dump()})
    app[ENGINE] = engine
    app.cleanup_ctx.append(notify_sender_ctx)
    app.freeze()
    await app.startup()
    try:
        assert [t for t in asyncio.all_tasks() if t.get_name() == "notify-sender"]
        await asyncio.to_thread(wait_until, lambda: inbox.messages, 20, 0.05, "the notice to arrive")
    finally:
        await app.cleanup()
    async with engine.connect() as conn:
        assert (await service.get_notification(conn, queued.id))["status"] == "sent"


async def test_the_sender_is_off_unless_configured(engine, database_url):
    for notify in ({}, {"enabled": False, "smtp": {"host": "127.0.0.1"}}):
        app = web.Application()
        app[CONFIG] = CentralConfig.model_validate({"database": {"url": database_url}, "notify": notify})
        app[ENGINE] = engine
        app.cleanup_ctx.append(notify_sender_ctx)
        app.freeze()
        await app.startup()
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "notify-sender"]
        await app.cleanup()


async def test_reminders_wait_for_their_time_and_can_be_cancelled(engine, demo, clock, smtp_server, inbox):
    from datetime import datetime, timezone
    due = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
    data = {"estate_name": "演示花园", "resident_name": "张三", "unit": "3栋1201室", "period": "2026-11",
            "amount_due": "322.65", "due_date": date(2026, 11, 30), "payment_instructions": "前台缴费"}
    reminders = [service.NoticeRequest(
        estate="demo", channel="email", recipient="zhang.san@example.com", purpose="payment_reminder",
        dedup_key=f"2026-11:unit-{demo[unit]}", template="payment_reminder", data=data, unit_id=demo[unit],
        send_after=due.replace(day=27 + days)) for unit, days in (("3-1201", 1), ("3-1202", 2))]
    first, second = await queue_all(engine, reminders, clock)
    sender = make_sender(engine, clock, smtp_server.port)
    assert await sender.run_once() == 0
    async with engine.begin() as conn:  # the second unit paid meanwhile
        assert await service.cancel_pending(conn, OFFICE, "demo", "payment_reminder",
                                            f"2026-11:unit-{demo['3-1202']}") == 1
    clock.advance(days=3)
    assert await sender.run_once() == 1
    [message] = inbox.messages
    assert message["Subject"] == "【演示花园】缴费提醒：3栋1201室 2026-11 账单将于 2026-11-30 到期"
    async with engine.connect() as conn:
        assert (await service.get_notification(conn, second.id))["status"] == "cancelled"
