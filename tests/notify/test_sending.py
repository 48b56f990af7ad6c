"""Queue a notice, send it through a real SMTP server, read the message and its PDF back; retries never lose one."""
from __future__ import annotations

import io
from datetime import timedelta

import pypdf
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from central.notify import outbox, service
from central.notify.models import Notification, NotificationAttempt
from tests.notify.conftest import OFFICE, bill_notice, make_sender


async def queue(engine, request, clock):
    async with engine.begin() as conn:
        return await service.enqueue(conn, OFFICE, request, now=clock())


async def record(engine, notification_id: int) -> dict:
    async with engine.connect() as conn:
        return await service.get_notification(conn, notification_id)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


async def test_a_bill_notice_arrives_with_its_pdf(engine, demo, clock, smtp_server, inbox):
    queued = await queue(engine, bill_notice(demo), clock)
    assert queued.created and queued.status == "queued"
    sender = make_sender(engine, clock, smtp_server.port)

    assert await sender.run_once() == 1

    [message] = inbox.messages
    assert message["Subject"] == "【演示花园】2026-11 缴费通知（3栋1201室）"
    assert message["To"] == "zhang.san@example.com"
    assert "notice@demo.example" in message["From"] and "演示花园物业" in message["From"]
    assert message["Reply-To"] == "office@demo.example"
    assert message["Message-ID"] == f"<notice-{queued.id}.demo@demo.example>"
    assert inbox.envelopes == [("notice@demo.example", ["zhang.san@example.com"])]
    body = message.get_body(("plain",)).get_content()
    assert "尊敬的张三" in body and "322.65" in body and "2026-11-30" in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"notice-2026-11-{queued.id}.pdf"
    text = pdf_text(attachment.get_content())
    for expected in ("物业费缴费通知单", "演示花园", "3栋1201室", "张三", "物业服务费", "120.50 m² × 2.50 元/m²",
                     "301.25", "41.40", "-20.00", "322.65", "叁佰贰拾贰元陆角伍分", "2026-11-30", "B-2026-11-0042",
                     "银行转账"):
        assert expected in text, expected

    sent = await record(engine, queued.id)
    assert (sent["status"], sent["attempts"], sent["sent_at"]) == ("sent", 1, clock())
    assert sent["provider_id"] == message["Message-ID"] and sent["last_error"] is None
    assert [(a["attempt"], a["outcome"]) for a in sent["attempt_log"]] == [(1, "sent")]
    async with engine.connect() as conn:
        name, stored = await service.attachment_of(conn, queued.id)
    assert (name, stored) == (attachment.get_filename(), attachment.get_content()), "what was sent is kept"
    assert await sender.run_once() == 0 and len(inbox.messages) == 1


async def test_a_refusing_server_is_retried_with_backoff_until_it_accepts(engine, demo, clock, smtp_server, inbox):
    queued = await queue(engine, bill_notice(demo, document=False), clock)
    sender = make_sender(engine, clock, smtp_server.port)
    inbox.refuse_rcpt = "451 4.3.0 Mailbox busy, try again later"
    started = clock()

    assert await sender.run_once() == 1
    first = await record(engine, queued.id)
    assert (first["status"], first["attempts"]) == ("queued", 1)
    assert "451" in first["last_error"] and "try again later" in first["last_error"]
    assert first["next_attempt_at"] == started + timedelta(seconds=60)
    assert await sender.run_once() == 0, "not due before its backoff"

    clock.advance(seconds=60)
    assert await sender.run_once() == 1
    assert (await record(engine, queued.id))["next_attempt_at"] == clock() + timedelta(seconds=120)
    inbox.refuse_rcpt = None
    clock.advance(seconds=119)
    assert await sender.run_once() == 0
    clock.advance(seconds=1)
    assert await sender.run_once() == 1

    done = await record(engine, queued.id)
    assert (done["status"], done["attempts"], done["last_error"]) == ("sent", 3, None)
    assert [a["outcome"] for a in done["attempt_log"]] == ["retry", "retry", "sent"]
    assert all("451" in a["error"] for a in done["attempt_log"][:2])
    assert len(inbox.messages) == 1


async def test_a_server_that_is_down_gets_the_notice_when_it_is_back(engine, demo, clock, smtp_server, inbox):
    queued = await queue(engine, bill_notice(demo), clock)
    sender = make_sender(engine, clock, smtp_server.port)
    smtp_server.stop()

    assert await sender.run_once() == 1
    down = await record(engine, queued.id)
    assert down["status"] == "queued" and "ConnectionRefusedError" in down["last_error"]

    smtp_server.start()
    clock.advance(minutes=1)
    assert await sender.run_once() == 1
    assert (await record(engine, queued.id))["status"] == "sent"
    assert len(inbox.messages) == 1 and list(inbox.messages[0].iter_attachments())


async def test_after_max_attempts_it_fails_permanently_and_can_be_requeued(engine, demo, clock, smtp_server, inbox):
    queued = await queue(engine, bill_notice(demo, document=False), clock)
    sender = make_sender(engine, clock, smtp_server.port)  # max_attempts 4
    inbox.refuse_data = "452 4.3.1 Insufficient system storage"
    for _ in range(4):
        assert await sender.run_once() == 1
        clock.advance(hours=1)
    failed = await record(engine, queued.id)
    assert (failed["status"], failed["attempts"]) == ("failed_permanently", 4)
    assert [a["outcome"] for a in failed["attempt_log"]] == ["retry", "retry", "retry", "failed"]
    assert "452" in failed["last_error"]
    assert await sender.run_once() == 0, "a failed notice stays failed"

    inbox.refuse_data = None
    async with engine.begin() as conn:
        again = await service.requeue(conn, OFFICE, queued.id, now=clock())
    assert (again["status"], again["attempts"]) == ("queued", 0)
    assert await sender.run_once() == 1
    done = await record(engine, queued.id)
    assert (done["status"], done["attempts"]) == ("sent", 1)
    assert [a["outcome"] for a in done["attempt_log"]] == ["retry", "retry", "retry", "failed", "sent"]


async def test_a_permanent_refusal_fails_at_once(engine, demo, clock, smtp_server, inbox):
    queued = await queue(engine, bill_notice(demo, recipient="nobody@example.com", document=False), clock)
    inbox.refuse_rcpt = "550 5.1.1 No such user here"
    assert await make_sender(engine, clock, smtp_server.port).run_once() == 1
    failed = await record(engine, queued.id)
    assert (failed["status"], failed["attempts"]) == ("failed_permanently", 1)
    assert "550" in failed["last_error"] and "No such user" in failed["last_error"]


async def test_the_same_notice_is_never_queued_twice(engine, demo, clock, smtp_server, inbox):
    first = await queue(engine, bill_notice(demo), clock)
    second = await queue(engine, bill_notice(demo), clock)
    assert (second.id, second.created, second.status) == (first.id, False, "queued")
    assert await make_sender(engine, clock, smtp_server.port).run_once() == 1
    after = await queue(engine, bill_notice(demo), clock)
    assert (after.id, after.created, after.status) == (first.id, False, "sent")
    sms = await queue(engine, bill_notice(demo, channel="sms", recipient="13800138000"), clock)
    other_month = await queue(engine, bill_notice(demo, period="2026-12"), clock)
    assert sms.created and other_month.created and len({first.id, sms.id, other_month.id}) == 3
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Notification)) == 3
    assert len(inbox.messages) == 1


async def test_a_notice_commits_with_the_callers_transaction_or_not_at_all(engine, demo, clock):
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await service.enqueue(conn, OFFICE, bill_notice(demo), now=clock())
            raise RuntimeError("the bill run failed")
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Notification)) == 0


async def test_a_notice_whose_sender_died_mid_send_is_sent_after_the_lease(engine, demo, clock, smtp_server, inbox):
    queued = await queue(engine, bill_notice(demo, document=False), clock)
    async with engine.begin() as conn:  # a sender claims it, then its process is killed
        dead = await outbox.claim(conn, ("email",), clock(), 600)
    assert dead.id == queued.id and (await record(engine, queued.id))["status"] == "sending"
    sender = make_sender(engine, clock, smtp_server.port)  # lease_s 600

    clock.advance(seconds=599)
    assert await sender.run_once() == 0 and inbox.messages == []
    clock.advance(seconds=2)
    assert await sender.run_once() == 1
    done = await record(engine, queued.id)
    assert (done["status"], done["attempts"]) == ("sent", 2)
    assert [a["outcome"] for a in done["attempt_log"]] == ["lease_expired", "sent"]
    assert len(inbox.messages) == 1

    async with engine.begin() as conn:  # the dead sender's late report changes nothing
        assert await outbox.finish(conn, dead, outcome="retry", now=clock(), worker="dead",
                                   error="late", retry_at=clock()) is False
    assert (await record(engine, queued.id))["status"] == "sent"


async def test_an_expired_lease_on_the_last_attempt_fails_the_notice(engine, demo, clock, smtp_server):
    queued = await queue(engine, bill_notice(demo, document=False), clock)
    async with engine.begin() as conn:
        await conn.execute(update(Notification).where(Notification.id == queued.id).values(attempts=3))
        await outbox.claim(conn, ("email",), clock(), 600)
    clock.advance(seconds=601)
    assert await make_sender(engine, clock, smtp_server.port).run_once() == 0
    failed = await record(engine, queued.id)
    assert (failed["status"], failed["attempts"]) == ("failed_permanently", 4)
    assert "lease expired" in failed["last_error"]


async def test_the_attempt_log_is_append_only(engine, demo, clock, smtp_server):
    queued = await queue(engine, bill_notice(demo, document=False), clock)
    await make_sender(engine, clock, smtp_server.port).run_once()
    for statement in (update(NotificationAttempt).values(outcome="retry"),
                      NotificationAttempt.__table__.delete()):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(statement)
    assert len((await record(engine, queued.id))["attempt_log"]) == 1
