"""What enqueue refuses, and what it stores: checked before anything is queued, audited when it is."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import select

from central.auth.models import AuditEntry
from central.notify import service
from central.notify.errors import Invalid, NotFound
from central.notify.service import Attachment
from tests.notify.conftest import OFFICE, bill_notice


@pytest.mark.parametrize("change, field", [
    ({"recipient": "not-an-address"}, "recipient"),
    ({"recipient": "a@b.example\r\nBcc: c@d.example"}, "recipient"),
    ({"purpose": "Bill Notice"}, "purpose"),
    ({"dedup_key": ""}, "dedup_key"),
    ({"channel": "fax"}, "channel"),
    ({"template": "bill_notise"}, "template"),
    ({"locale": "fr"}, "locale"),
    ({"send_after": datetime(2026, 12, 1)}, "send_after"),
    ({"attachment": Attachment("x.pdf", b"%PDF-")}, "attachment"),
])
async def test_enqueue_refuses_what_cannot_be_sent(engine, demo, change, field):
    async with engine.begin() as conn:
        with pytest.raises(Invalid, match=field):
            await service.enqueue(conn, OFFICE, replace(bill_notice(demo), **change))


async def test_units_residents_and_estates_must_match(engine, demo):
    async with engine.begin() as conn:
        with pytest.raises(Invalid, match="unit_id"):
            await service.enqueue(conn, OFFICE, replace(bill_notice(demo), unit_id=demo["1-101"]))
        with pytest.raises(Invalid, match="resident_id"):
            await service.enqueue(conn, OFFICE, replace(bill_notice(demo), estate="other", unit_id=None))
        with pytest.raises(NotFound, match="estate"):
            await service.enqueue(conn, OFFICE, replace(bill_notice(demo), estate="nowhere", unit_id=None,
                                                        resident_id=None))
        with pytest.raises(Invalid, match="SMS cannot carry"):
            await service.enqueue(conn, OFFICE, replace(bill_notice(demo), channel="sms", recipient="13800138000"))


async def test_phone_numbers_are_stored_as_digits_and_each_notice_is_audited(engine, demo):
    async with engine.begin() as conn:
        sms = await service.enqueue(conn, OFFICE, bill_notice(demo, channel="sms", recipient="+86 138-0013 8000"))
        mail = await service.enqueue(conn, OFFICE, bill_notice(demo, document=False, attachment=Attachment(
            "receipt.pdf", b"%PDF-1.4 made elsewhere")))
        assert (await service.get_notification(conn, sms.id))["recipient"] == "+8613800138000"
        assert await service.attachment_of(conn, mail.id) == ("receipt.pdf", b"%PDF-1.4 made elsewhere")
        with pytest.raises(Invalid, match="phone"):
            await service.enqueue(conn, OFFICE, bill_notice(demo, channel="sms", recipient="138 0013 800x"))
        audit = (await conn.execute(select(AuditEntry.action, AuditEntry.entity_id, AuditEntry.actor)
                                    .where(AuditEntry.entity == "notification").order_by(AuditEntry.id))).all()
    assert [tuple(a) for a in audit] == [("notification.enqueue", str(sms.id), "office-zhao"),
                                         ("notification.enqueue", str(mail.id), "office-zhao")]
