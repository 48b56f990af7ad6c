"""Notify through HTTP with real accounts and tokens: who may list, read, download, re-queue and cancel what."""
from __future__ import annotations

import io
from dataclasses import dataclass

import pypdf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from central.api.errors import error_middleware
from central.auth.middleware import auth_middleware
from central.auth.models import AuditEntry
from central.auth.permissions import NOTIFY
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.auth.service import NewUser, create_token, create_user, resolve_session_free_principal
from central.keys import ENGINE
from central.notify import pdf, service
from central.notify.models import Notification
from central.notify.routes import add_routes
from central.notify.routes import routes as notify_routes
from tests.notify.conftest import bill_notice


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    ids: dict[str, int]

    async def __call__(self, who: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        resp = await self.client.request(method, "/api/v1" + path, json=body,
                                         headers={"Authorization": f"Bearer {self.tokens[who]}"})
        return resp.status, await resp.json()

    async def raw(self, who: str, path: str) -> tuple[int, bytes, dict]:
        resp = await self.client.get("/api/v1" + path, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        return resp.status, await resp.read(), dict(resp.headers)


@pytest.fixture
async def api(engine, demo):
    async with engine.begin() as conn:
        ids = {
            "mine": (await service.enqueue(conn, SYSTEM, bill_notice(demo))).id,
            "family_sms": (await service.enqueue(conn, SYSTEM, bill_notice(
                demo, channel="sms", recipient="13911112222", resident_id=None))).id,
            "neighbour": (await service.enqueue(conn, SYSTEM, bill_notice(
                demo, unit="3-1202", recipient="tenant@example.com", document=False))).id,
        }
        tokens = {}
        for who, role, estate in (("admin", Role.ADMIN, None), ("manager", Role.MANAGER, "demo"),
                                  ("manager-b", Role.MANAGER, "other"), ("cashier", Role.CASHIER, "demo"),
                                  ("guard", Role.GUARD, "demo"), ("resident", Role.RESIDENT, "demo")):
            user_id = await create_user(conn, SYSTEM, NewUser(
                username=who, password="Correct-Horse-Battery-7", role=role,
                estates=frozenset({estate}) if estate else frozenset(),
                resident_id=demo["zhang"] if role is Role.RESIDENT else None))
            tokens[who] = await create_token(conn, await resolve_session_free_principal(conn, user_id), "tests")
    app = web.Application(middlewares=[error_middleware])
    app[ENGINE] = engine
    sub = web.Application(middlewares=[error_middleware, auth_middleware])
    add_routes(sub)
    app.add_subapp("/api/v1", sub)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens, ids)


def test_every_route_is_in_the_permission_table():
    assert {route.kwargs["name"] for route in notify_routes} == set(NOTIFY)


async def test_staff_list_and_filter_an_estates_notices(api, demo):
    status, page = await api("manager", "GET", "/estates/demo/notifications")
    assert status == 200 and [n["id"] for n in page["items"]] == sorted(api.ids.values())
    assert page["items"][0]["recipient"] == "zhang.san@example.com" and "claim_token" not in page["items"][0]
    for query, expected in ((f"unit={demo['3-1202']}", ["neighbour"]), ("channel=sms", ["family_sms"]),
                            ("purpose=bill_notice&status=queued", ["mine", "family_sms", "neighbour"]),
                            ("status=sent", []), ("limit=1", ["mine"])):
        status, page = await api("cashier", "GET", f"/estates/demo/notifications?{query}")
        assert status == 200 and [n["id"] for n in page["items"]] == [api.ids[k] for k in expected], query
    status, body = await api("manager", "GET", "/estates/demo/notifications?status=lost")
    assert status == 400 and "status" in body["message"]
    assert (await api("manager", "GET", "/estates/demo/notifications?colour=red"))[0] == 400
    assert (await api("manager-b", "GET", "/estates/demo/notifications"))[0] == 404
    assert (await api("manager-b", "GET", f"/notifications/{api.ids['mine']}"))[0] == 404
    assert (await api("guard", "GET", "/estates/demo/notifications"))[0] == 403


async def test_a_resident_sees_only_their_units_notices(api):
    status, page = await api("resident", "GET", "/estates/demo/notifications")
    assert status == 200 and [n["id"] for n in page["items"]] == [api.ids["mine"], api.ids["family_sms"]]
    mine, family = page["items"]
    assert mine["recipient"] == "zhang.san@example.com", "their own address in full"
    assert family["recipient"] == "139****2222", "someone else's masked"
    assert "attempt_log" not in mine and "last_error" not in mine and "dedup_key" not in mine
    assert (await api("resident", "GET", f"/notifications/{api.ids['neighbour']}"))[0] == 404
    status, one = await api("resident", "GET", f"/notifications/{api.ids['mine']}")
    assert status == 200 and one["subject"] == "【演示花园】2026-11 缴费通知（3栋1201室）"
    assert (await api("resident", "POST", f"/notifications/{api.ids['mine']}/cancel", {}))[0] == 403


async def test_the_pdf_downloads_separately(api):
    status, one = await api("cashier", "GET", f"/notifications/{api.ids['mine']}")
    assert status == 200 and one["attachment_name"] == f"notice-2026-11-{api.ids['mine']}.pdf"
    assert one["attempt_log"] == [] and "document" not in one
    status, data, headers = await api.raw("resident", f"/notifications/{api.ids['mine']}/attachment")
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == f'attachment; filename="notice-2026-11-{api.ids["mine"]}.pdf"'
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "张三" in text and "322.65" in text
    status, again, _ = await api.raw("manager", f"/notifications/{api.ids['mine']}/attachment")
    assert again == data, "rendered once, then kept"
    status, body = await api("manager", "GET", f"/notifications/{api.ids['neighbour']}/attachment")
    assert status == 404 and "no attachment" in body["message"]
    assert (await api.raw("resident", f"/notifications/{api.ids['neighbour']}/attachment"))[0] == 404


async def test_a_missing_font_answers_503_naming_the_package(api, engine, demo, monkeypatch, tmp_path):
    monkeypatch.setattr(pdf, "DEFAULT_FONT", tmp_path / "missing.ttc")
    async with engine.begin() as conn:
        fresh = await service.enqueue(conn, SYSTEM, bill_notice(demo, period="2026-12"))
    status, body = await api("manager", "GET", f"/notifications/{fresh.id}/attachment")
    assert status == 503 and pdf.FONT_PACKAGE in body["message"]


async def test_managers_requeue_failed_and_cancel_pending_notices(api, engine):
    status, body = await api("manager", "POST", f"/notifications/{api.ids['mine']}/requeue", {})
    assert status == 409 and "only a failed_permanently or cancelled" in body["message"]
    async with engine.begin() as conn:
        await conn.execute(update(Notification).where(Notification.id == api.ids["mine"]).values(
            status="failed_permanently", attempts=10, last_error="451 try later"))
    assert (await api("cashier", "POST", f"/notifications/{api.ids['mine']}/requeue", {}))[0] == 403
    status, again = await api("manager", "POST", f"/notifications/{api.ids['mine']}/requeue", {})
    assert status == 200 and (again["status"], again["attempts"]) == ("queued", 0)

    status, cancelled = await api("admin", "POST", f"/notifications/{api.ids['neighbour']}/cancel", {})
    assert status == 200 and cancelled["status"] == "cancelled"
    assert (await api("manager", "POST", f"/notifications/{api.ids['neighbour']}/cancel", {}))[0] == 409
    assert (await api("manager", "POST", f"/notifications/{api.ids['neighbour']}/cancel", {"why": 1}))[0] == 400
    assert (await api("manager-b", "POST", f"/notifications/{api.ids['family_sms']}/cancel", {}))[0] == 404
    async with engine.connect() as conn:
        actions = (await conn.execute(select(AuditEntry.action, AuditEntry.actor, AuditEntry.after).where(
            AuditEntry.entity == "notification", AuditEntry.action != "notification.enqueue")
            .order_by(AuditEntry.id))).all()
    assert [(a.action, a.actor, a.after["status"]) for a in actions] == [
        ("notification.requeued", "manager", "queued"), ("notification.cancelled", "admin", "cancelled")]
