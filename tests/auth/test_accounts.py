"""Accounts as their users meet them: login, lock-out, sessions with CSRF, tokens, tenancy, the audit trail."""
from __future__ import annotations

import asyncio

import orjson
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import text

from central.db import create_engine
from estatelink import wire
from tests.auth.helpers import PASSWORD, Browser, make_user, token_for
from tests.support.services import wait_until


def test_login_lockout_logout_and_csrf(central):
    make_user(central, "guard-li", "guard", ["demo"])
    browser = Browser(central.port)
    assert browser.login("guard-li", "wrong-password-1")[0] == 401
    status, body = browser.login("nobody", "wrong-password-1")
    assert status == 401 and body["message"] == "wrong username or password"  # no hint which part was wrong

    status, body = browser.login("guard-li")
    assert status == 200 and body["user"]["role"] == "guard" and body["user"]["estates"] == ["demo"]
    assert browser.call("GET", "/auth/me")[1]["username"] == "guard-li"
    assert browser.call("POST", "/auth/tokens", {"name": "x"}, csrf=False)[0] == 403, "a session POST needs CSRF"
    assert browser.call("POST", "/auth/tokens", {"name": "x"})[0] == 201
    assert browser.call("POST", "/auth/logout", {})[0] == 200
    assert browser.call("GET", "/auth/me")[0] == 401

    for _ in range(5):
        assert Browser(central.port).login("guard-li", "wrong-password-2")[0] == 401
    status, body = Browser(central.port).login("guard-li")
    assert status == 423 and "locked until" in body["message"], "the right password does not open a locked account"
    _, audit = central.api("/audit?action=user.locked")
    assert [entry["entity_id"] for entry in audit["items"]] != []


def test_password_change_ends_other_sessions(central):
    make_user(central, "cashier-wang", "cashier", ["demo"])
    desk, phone = Browser(central.port), Browser(central.port)
    desk.login("cashier-wang")
    phone.login("cashier-wang")
    status, body = desk.call("POST", "/auth/password", {"current_password": PASSWORD, "new_password": "short"})
    assert status == 400 and "new_password" in body["message"]
    status, _ = desk.call("POST", "/auth/password", {"current_password": PASSWORD,
                                                      "new_password": "A-much-better-one-2026"})
    assert status == 200
    assert desk.call("GET", "/auth/me")[0] == 200, "the session that changed it stays"
    assert phone.call("GET", "/auth/me")[0] == 401, "every other session ends"
    assert Browser(central.port).login("cashier-wang", "A-much-better-one-2026")[0] == 200


def test_bad_and_unknown_tokens_are_refused(central):
    assert central.api("/events", token="elk_not-a-real-token")[0] == 401
    status, body = central.api("/events", token=None, headers={"Authorization": "Basic abc"})
    assert status == 401 and "Bearer" in body["message"]


def publish(port: int, estate: str, seqs: range) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    events = [wire.envelope_dict(estate=estate, gateway="gate-1", seq=s, device="reader", kind="card.read",
                                 data={"card": f"{s:010X}"}, received_at=wire.utc_now()) for s in seqs]
    payload = orjson.dumps({"v": 1, "estate": estate, "gateway": "gate-1", "stream": "access", "events": events})
    client.publish(wire.uplink_topic(estate, "gate-1", "access"), payload, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def test_a_guard_sees_only_their_estate(central, mosquitto):
    publish(mosquitto.port, "demo", range(1, 4))
    publish(mosquitto.port, "other", range(1, 3))
    wait_until(lambda: len(central.all_events()) == 5, 15, message="events of both estates")
    make_user(central, "guard-demo", "guard", ["demo"])
    guard = token_for(central, "guard-demo")

    status, page = central.api("/events", token=guard)
    assert status == 200 and {e["estate"] for e in page["items"]} == {"demo"} and len(page["items"]) == 3
    assert central.api("/events?estate=other", token=guard)[0] == 404
    _, gateways = central.api("/gateways", token=guard)
    assert {g["estate"] for g in gateways["items"]} == {"demo"}
    assert central.api("/dead-letters", token=guard)[0] == 403


def test_managers_grant_only_within_their_estates_and_every_change_is_audited(central):
    make_user(central, "manager-zhao", "manager", ["demo"])
    other_guard = make_user(central, "guard-other", "guard", ["other"])
    manager = token_for(central, "manager-zhao")

    status, _ = central.api("/users", method="POST", token=manager, body={
        "username": "boss", "password": PASSWORD, "role": "admin", "estates": []})
    assert status == 403
    status, body = central.api("/users", method="POST", token=manager, body={
        "username": "guard-x", "password": PASSWORD, "role": "guard", "estates": ["other"]})
    assert status == 400 and "estates" in body["message"]
    status, created = central.api("/users", method="POST", token=manager, body={
        "username": "guard-new", "password": PASSWORD, "role": "guard", "estates": ["demo"]})
    assert status == 201
    status, body = central.api("/users", method="POST", token=manager, body={
        "username": "guard-new", "password": PASSWORD, "role": "guard", "estates": ["demo"]})
    assert status == 409 and body["error"] == "conflict"
    assert body["message"].startswith("username: 'guard-new' is taken; choose another")
    assert central.api(f"/users/{other_guard}", method="PATCH", token=manager, body={"active": False})[0] == 404
    status, updated = central.api(f"/users/{created['id']}", method="PATCH", token=manager,
                                  body={"display_name": "Guard Sun", "active": False})
    assert status == 200 and updated["active"] is False
    assert {u["username"] for u in central.api("/users", token=manager)[1]["items"]} == {"manager-zhao", "guard-new"}

    _, audit = central.api(f"/audit?entity=user&entity_id={created['id']}")
    actions = [(e["action"], e["actor"]) for e in audit["items"]]
    assert actions == [("user.update", "manager-zhao"), ("user.create", "manager-zhao")]
    change = audit["items"][0]
    assert change["before"]["active"] is True and change["after"]["active"] is False
    assert change["before"]["display_name"] == "" and change["after"]["display_name"] == "Guard Sun"
    assert "password" not in orjson.dumps(audit).decode().replace('"password_change"', "")


def test_the_audit_log_cannot_be_edited_and_passwords_are_not_stored_in_clear(central):
    make_user(central, "tech-liu", "technician", ["demo"])

    async def inspect():
        engine = create_engine(central.database_url)
        try:
            async with engine.connect() as conn:
                stored = (await conn.execute(text("SELECT password_hash FROM users WHERE username='tech-liu'"))).scalar()
            for statement in ("UPDATE audit_log SET actor='someone-else'", "DELETE FROM audit_log"):
                with pytest.raises(Exception, match="append-only"):
                    async with engine.begin() as conn:
                        await conn.execute(text(statement))
            return stored
        finally:
            await engine.dispose()

    stored = asyncio.run(inspect())
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    log = central.output()
    assert PASSWORD not in log and central.token not in log, "secrets never reach the log"
