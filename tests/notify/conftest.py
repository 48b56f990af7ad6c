"""Notify tests run on a migrated SQLite file and on a fresh PostgreSQL database, against a real SMTP server."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from central.auth.principal import Principal
from central.auth.roles import Role
from central.notify.config import NotifyConfig
from central.notify.document import NoticeDocument, NoticeLine
from central.notify.sender import NotifySender
from central.notify.service import NoticeRequest
from central.notify.smtp import SmtpTransport
from central.registry import estates, residents, units
from tests.notify import support
from tests.notify.support import Clock
from tests.support import database

data_key = database.data_key
engine = database.engine
inbox, smtp_server = support.inbox, support.smtp_server

OFFICE = Principal(user_id=7, username="office-zhao", role=Role.MANAGER, estates=frozenset({"demo"}))
FAST = {"poll_interval_s": 0.05, "backoff_base_s": 60, "backoff_max_s": 3600, "max_attempts": 4}


@pytest.fixture
async def demo(engine) -> dict[str, int]:
    """Estate demo (演示花园) with unit 3-1201 where 张三 lives and 3-1202; estate other with unit 1-101."""
    made = {}
    async with engine.begin() as conn:
        for code, name, numbers in (("demo", "演示花园", ("1201", "1202")), ("other", "Other Court", ("101",))):
            await estates.create_estate(conn, OFFICE, estates.EstateCreate(code=code, name=name))
            building = "3" if code == "demo" else "1"
            await estates.create_building(conn, OFFICE, code, estates.BuildingCreate(code=building))
            for number in numbers:
                unit = await units.create_unit(conn, OFFICE, code, units.UnitCreate(building=building, number=number))
                made[f"{building}-{number}"] = unit["id"]
        zhang = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(
            name="张三", email="zhang.san@example.com", phone="13800138000"))
        await residents.add_occupancy(conn, OFFICE, zhang["id"], residents.OccupancyCreate(
            unit_id=made["3-1201"], relation="owner", move_in=date(2020, 1, 1)))
        made["zhang"] = zhang["id"]
    return made


@pytest.fixture
def clock() -> Clock:
    return Clock()


def notify_config(port: int, **overrides) -> NotifyConfig:
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "timeout_s": 5,
            "from_address": "演示花园物业 <notice@demo.example>", "reply_to": "office@demo.example",
            **overrides.pop("smtp", {})}
    return NotifyConfig.model_validate({**FAST, "smtp": smtp, **overrides})


def make_sender(engine, clock, port: int, **overrides) -> NotifySender:
    config = notify_config(port, **overrides)
    return NotifySender(engine, config, email=SmtpTransport(config.smtp, None), clock=clock)


def bill_document(**changes) -> NoticeDocument:
    return NoticeDocument(**{
        "title": "物业费缴费通知单", "estate_name": "演示花园", "unit": "3栋1201室", "resident": "张三",
        "period": "2026-11", "reference": "B-2026-11-0042", "issued_on": date(2026, 11, 1),
        "due_date": date(2026, 11, 30), "payment_instructions": "请至物业服务中心前台或通过银行转账缴纳。",
        "lines": [NoticeLine(item="物业服务费", detail="120.50 m² × 2.50 元/m²", amount=Decimal("301.25")),
                  NoticeLine(item="水费", detail="12.000 m³", amount=Decimal("41.40")),
                  NoticeLine(item="预存抵扣", amount=Decimal("-20.00"))],
        **changes})


def bill_notice(demo, *, unit: str = "3-1201", channel: str = "email", recipient: str = "zhang.san@example.com",
                period: str = "2026-11", document: bool = True, **changes) -> NoticeRequest:
    """A bill notice for a unit of demo, as billing queues it."""
    data = {"estate_name": "演示花园", "resident_name": "张三", "unit": "3栋1201室", "period": period,
            "total": Decimal("322.65"), "due_date": date(2026, 11, 30),
            "payment_instructions": "请至物业服务中心前台或通过银行转账缴纳。"}
    return NoticeRequest(**{
        "estate": "demo", "channel": channel, "recipient": recipient, "purpose": "bill_notice",
        "dedup_key": f"{period}:unit-{demo[unit]}", "template": "bill_notice", "data": data,
        "unit_id": demo[unit], "resident_id": demo["zhang"] if unit == "3-1201" else None,
        "document": bill_document() if document and channel == "email" else None, **changes})
