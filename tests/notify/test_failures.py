"""Failures that no retry can mend end at once as failed_permanently (re-queueable), instead of being tried
max_attempts times: an attachment over the size limit, an address the relay cannot carry."""
from __future__ import annotations

import pytest

from central.notify import attachments, outbox, service
from central.notify.errors import Conflict
from tests.notify.conftest import OFFICE, bill_notice, make_sender
from tests.notify.support import Inbox, SmtpServer
from tests.notify.test_sending import queue, record


async def test_a_rendered_pdf_over_the_size_limit_fails_at_once(engine, demo, clock, smtp_server, inbox, monkeypatch):
    queued = await queue(engine, bill_notice(demo), clock)
    monkeypatch.setattr(attachments, "MAX_BYTES", 100)
    assert await make_sender(engine, clock, smtp_server.port).run_once() == 1
    failed = await record(engine, queued.id)
    assert (failed["status"], failed["attempts"]) == ("failed_permanently", 1)
    assert "100 byte limit" in failed["last_error"]
    assert inbox.messages == []


async def test_a_non_ascii_address_the_relay_cannot_carry_fails_at_once(engine, demo, clock):
    inbox = Inbox()
    server = SmtpServer(inbox, enable_SMTPUTF8=False)
    server.start()
    try:
        queued = await queue(engine, bill_notice(demo, recipient="张三@example.com", document=False), clock)
        assert await make_sender(engine, clock, server.port).run_once() == 1
    finally:
        server.stop()
    failed = await record(engine, queued.id)
    assert (failed["status"], failed["attempts"]) == ("failed_permanently", 1)
    assert "SMTPUTF8" in failed["last_error"]
    assert inbox.messages == []


async def test_a_cancel_that_loses_the_race_to_a_sender_says_so(engine, demo, clock, monkeypatch):
    """The notice was queued when cancel read it, but a sender claimed it before the update: not cancelled."""
    queued = await queue(engine, bill_notice(demo, document=False), clock)
    real = service.get_notification
    async with engine.connect() as conn:
        as_read = await real(conn, queued.id, attempts=False)
    async with engine.begin() as conn:
        assert await outbox.claim(conn, ("email",), clock(), 600) is not None
    calls = []

    async def stale_first(conn, notification_id, *, attempts=True):
        calls.append(notification_id)
        return dict(as_read) if len(calls) == 1 else await real(conn, notification_id, attempts=attempts)

    monkeypatch.setattr(service, "get_notification", stale_first)
    with pytest.raises(Conflict):
        async with engine.begin() as conn:
            await service.cancel(conn, OFFICE, queued.id, now=clock())
    assert (await record(engine, queued.id))["status"] == "sending"
