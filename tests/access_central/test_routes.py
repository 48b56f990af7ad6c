"""The access API with real accounts and tokens: what each role may do, and what the gateways are sent."""
from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from openapi_spec_validator import validate

from central.api.errors import error_middleware  # first: central.api mounts every module's routes
from central.api.openapi import document
from central.access.routes import add_routes
from central.access.sync import SYNC, AccessSync
from central.auth import routes as auth_routes
from central.auth.middleware import auth_middleware
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.auth.service import NewUser, create_token, create_user, resolve_session_free_principal
from central.keys import ENGINE
from central.registry import estates
from estatelink import wire
from gateway.access.visitor_pass import verify
from tests.access_central.test_events import consume, decision, row
from tests.access_central.test_sync import Recorder


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    sent: Recorder

    async def __call__(self, who: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        resp = await self.client.request(method, "/api/v1" + path, json=body,
                                         headers={"Authorization": f"Bearer {self.tokens[who]}"})
        if resp.content_type == "text/csv":
            return resp.status, {"csv": (await resp.read()).decode("utf-8-sig")}
        return resp.status, await resp.json()


@pytest.fixture
async def api(engine, demo):
    async with engine.begin() as conn:
        await estates.create_estate(conn, SYSTEM, estates.EstateCreate(code="third", name="Third"))
        tokens = {}
        for who, role, estate, resident in (
                ("manager", Role.MANAGER, "demo", None), ("guard", Role.GUARD, "demo", None),
                ("guard-b", Role.GUARD, "other", None), ("cashier", Role.CASHIER, "demo", None),
                ("wang", Role.RESIDENT, "demo", demo.wang), ("li", Role.RESIDENT, "demo", demo.li)):
            user_id = await create_user(conn, SYSTEM, NewUser(
                username=who, password="Correct-Horse-Battery-7", role=role, estates=frozenset({estate}),
                resident_id=resident))
            tokens[who] = await create_token(conn, await resolve_session_free_principal(conn, user_id), "tests")
    recorder = Recorder()
    sync = AccessSync(engine, recorder)
    task = asyncio.create_task(sync.run())
    app = web.Application(middlewares=[error_middleware])
    app[ENGINE], app[SYNC] = engine, sync
    sub = web.Application(middlewares=[error_middleware, auth_middleware])
    add_routes(sub)
    sub.add_routes(auth_routes.routes)
    app.add_subapp("/api/v1", sub)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens, recorder)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def published(api: Api) -> list[tuple[str, str, dict]]:
    await asyncio.sleep(0)
    await api.client.app[SYNC].drain()
    return api.sent.take()


async def test_cards_through_the_api_reach_the_gateways(api, demo):
    status, card = await api("manager", "POST", "/estates/demo/access/cards", {
        "card": "62e3086ced", "resident_id": demo.wang, "door_groups": ["block-3", "gates"]})
    assert status == 201 and card["holder_name"] == "Wang Fang"
    [(gateway, name, args)] = await published(api)
    assert (gateway, name, args["to_version"]) == ("gate-1", "access_delta", card["access_version"])
    assert (await api("guard", "POST", "/estates/demo/access/cards", {"card": "AA", "resident_id": demo.wang}))[0] \
        == 403
    assert (await api("guard", "POST", f"/access/cards/{card['id']}/suspend", {}))[0] == 403
    status, lost = await api("guard", "POST", f"/access/cards/{card['id']}/report-lost", {"note": "phoned in"})
    assert status == 200 and lost["state"] == "lost"
    [(_, _, args)] = await published(api)
    assert args["upserts"]["credentials"][0]["state"] == "lost"
    status, again = await api("guard", "POST", f"/access/cards/{card['id']}/report-lost", {})
    assert status == 409 and "is lost" in again["message"]
    status, history = await api("manager", "GET", f"/access/cards/{card['id']}/history")
    assert [h["action"] for h in history["items"]] == ["issued", "lost"]
    assert (await api("guard-b", "GET", f"/access/cards/{card['id']}"))[0] == 404
    assert (await api("cashier", "GET", "/estates/demo/access/cards"))[0] == 403


async def test_a_resident_sees_and_reports_only_their_own_cards(api, demo):
    cards = "/estates/demo/access/cards"
    mine = (await api("manager", "POST", cards, {"card": "AAAA0001", "resident_id": demo.wang}))[1]
    theirs = (await api("manager", "POST", cards, {"card": "BBBB0002", "resident_id": demo.li}))[1]
    status, listed = await api("wang", "GET", f"/estates/demo/access/cards?resident_id={demo.li}")
    assert status == 200 and [c["card"] for c in listed["items"]] == ["AAAA0001"]
    assert (await api("wang", "GET", f"/access/cards/{theirs['id']}"))[0] == 404
    assert (await api("wang", "POST", f"/access/cards/{theirs['id']}/report-lost", {}))[0] == 404
    status, lost = await api("wang", "POST", f"/access/cards/{mine['id']}/report-lost", {})
    assert status == 200 and lost["state"] == "lost"
    assert (await api("wang", "POST", f"/access/cards/{mine['id']}/return", {}))[0] == 403


async def test_doors_groups_schedules_and_remote_open(api, demo):
    status, door = await api("manager", "POST", "/estates/demo/access/doors", {
        "code": "garage", "gateway": "gate-2", "name": "Garage", "readers": ["garage-reader"],
        "groups": {"gates": "office"}, "anti_passback": {"zone": "estate", "direction": "in"}})
    assert status == 201 and door["groups"] == {"gates": "office"}
    await published(api)
    status, clash = await api("manager", "POST", "/estates/demo/access/doors", {
        "code": "garage-2", "gateway": "gate-2", "name": "Garage 2", "readers": ["garage-reader"]})
    assert status == 409 and "already belongs to door 'garage'" in clash["message"]
    assert (await api("manager", "PATCH", f"/access/doors/{door['id']}", {"groups": {"nope": None}}))[0] == 400
    assert (await api("guard", "GET", "/estates/demo/access/doors?gateway=gate-2"))[1]["items"][0]["code"] == "garage"
    assert (await api("guard", "DELETE", f"/access/doors/{door['id']}"))[0] == 403

    status, opened = await api("guard", "POST", f"/access/doors/{demo.doors['gate-in']}/open", {"reason": "courier"})
    assert status == 202 and (opened["status"], opened["issuer"]) == ("sent", "guard")
    [(topic, command, args)] = api.sent.sent
    api.sent.take()
    assert topic == wire.command_topic("demo", "gate-1", "door_open")
    assert (command.issuer, args, str(command.id)) == ("guard", {"door": "gate-in", "seconds": 5},
                                                       opened["command_id"])
    assert command.expires_at - command.issued_at == timedelta(seconds=30)
    reply = wire.Reply(command_id=command.id, name="door_open", status="expired", detail="expired", at=wire.utc_now())
    api.client.app[SYNC].on_reply(wire.Topic("demo", "gate-1", "reply"), wire.dumps(reply))
    await published(api)
    status, shown = await api("guard", "GET", f"/access/remote-opens/{opened['id']}")
    assert (status, shown["status"]) == (200, "expired")
    status, listed = await api("manager", "GET", "/estates/demo/access/remote-opens?door=gate-in")
    assert [o["id"] for o in listed["items"]] == [opened["id"]]
    assert (await api("guard-b", "POST", f"/access/doors/{demo.doors['gate-in']}/open", {}))[0] == 404
    assert (await api("wang", "POST", f"/access/doors/{demo.doors['gate-in']}/open", {}))[0] == 403

    status, schedule = await api("manager", "POST", "/estates/demo/access/schedules", {
        "code": "night", "name": "Night", "weekly": {"fri": [["22:00", "06:00"]]}, "holidays": ["2026-10-01"]})
    assert status == 201 and schedule["timezone"] == "Asia/Shanghai"
    sent = await published(api)
    assert sorted(gateway for gateway, _, _ in sent) == ["gate-1", "gate-2"]
    args = sent[0][2]
    assert args["upserts"]["schedules"][0]["weekly"]["fri"] == [["22:00:00", "06:00:00"]]
    assert (await api("manager", "POST", "/estates/demo/access/schedules", {
        "code": "bad", "name": "Bad", "weekly": {"mon": [["25:00", "06:00"]]}}))[0] == 400
    assert (await api("manager", "DELETE", f"/access/schedules/{schedule['id']}"))[0] == 200


async def test_visitor_passes_verify_at_a_gateway_with_the_published_key(api, demo):
    status, key = await api("manager", "GET", "/access/pass-key")
    assert status == 200 and (await api("guard", "GET", "/access/pass-key"))[0] == 403
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    status, issued = await api("guard", "POST", "/estates/demo/access/visitor-passes", {
        "visitor_name": "Courier Chen", "doors": ["gate-in"]})
    assert status == 201 and issued["code"].replace("-", "") == issued["text"]
    checked = verify(public, issued["text"], wire.utc_now() + timedelta(minutes=1), "demo")
    assert (checked.id, checked.doors, checked.single_use) == (issued["id"], frozenset({"gate-in"}), True)
    assert checked.valid_until - checked.valid_from == timedelta(hours=4)

    status, own = await api("wang", "POST", "/estates/demo/access/visitor-passes", {"visitor_name": "Mum"})
    assert status == 201 and own["door_groups"] == ["block-3"] and own["doors"] == []
    for body, message in (({"door_groups": ["block-5"]}, "does not serve"), ({"doors": ["gate-in"]}, "leave doors"),
                          ({"valid_until": "2099-01-01T00:00:00Z"}, "at most 1 day")):
        status, refused = await api("wang", "POST", "/estates/demo/access/visitor-passes",
                                    {"visitor_name": "X", **body})
        assert status == 400 and message in refused["message"], refused
    status, listed = await api("wang", "GET", "/estates/demo/access/visitor-passes")
    assert [p["id"] for p in listed["items"]] == [own["id"]] and "text" not in listed["items"][0]
    assert len((await api("guard", "GET", "/estates/demo/access/visitor-passes"))[1]["items"]) == 2


async def test_access_log_filters_pages_and_csv(api, demo, engine):
    rows = [decision(n, "62E3086CED" if n % 2 else "FFFFFFFFFF", bool(n % 2), "granted" if n % 2 else "unknown_card")
            for n in range(1, 8)] + [row(8, "door.forced", {"door": "gate-in"})]
    await consume(engine, rows)
    status, page = await api("guard", "GET", "/estates/demo/access/log?granted=false&limit=2")
    assert status == 200 and [e["event_seq"] for e in page["items"]] == [6, 4]
    status, rest = await api("guard", "GET",
                             f"/estates/demo/access/log?granted=false&limit=2&cursor={page['next_cursor']}")
    assert [e["event_seq"] for e in rest["items"]] == [2] and rest["next_cursor"] is None
    status, bad = await api("guard", "GET", "/estates/demo/access/log?granted=maybe")
    assert status == 400 and "granted" in bad["message"]
    status, since = await api("guard", "GET",
                              "/estates/demo/access/log?since=2026-11-27T16:00:05%2B08:00&card=62E3086CED")
    assert [e["event_seq"] for e in since["items"]] == [7, 5]
    status, csv = await api("guard", "GET", "/estates/demo/access/log.csv?reason=unknown_card")
    assert status == 200 and len(csv["csv"].splitlines()) == 4
    assert (await api("cashier", "GET", "/estates/demo/access/log"))[0] == 403
    assert (await api("guard", "GET", "/estates/third/access/log"))[0] == 404

    status, open_alarms = await api("guard", "GET", "/estates/demo/access/alarms?state=open")
    alarm = open_alarms["items"][0]
    assert (alarm["kind"], alarm["door"]) == ("door.forced", "gate-in")
    status, done = await api("guard", "POST", f"/access/alarms/{alarm['id']}/acknowledge", {"comment": "checked"})
    assert status == 200 and (done["acknowledged_by"], done["comment"]) == ("guard", "checked")
    assert (await api("guard", "POST", f"/access/alarms/{alarm['id']}/acknowledge", {}))[0] == 409
    assert (await api("guard", "POST", f"/access/alarms/{alarm['id']}/comment", {"comment": ""}))[0] == 400


async def test_sync_status_and_resync(api, demo):
    status, shown = await api("manager", "GET", "/estates/demo/access/sync")
    assert status == 200 and shown["version"] == 7 and [g["gateway"] for g in shown["gateways"]] == ["gate-1"]
    assert shown["gateways"][0]["in_sync"] is False
    status, sent = await api("manager", "POST", "/estates/demo/access/sync", {})
    assert status == 202 and sent["sent"] == {"gate-1": 7}
    assert [name for _, name, _ in api.sent.take()] == ["access_snapshot"]
    assert (await api("guard", "GET", "/estates/demo/access/sync"))[0] == 403


def test_the_openapi_document_is_valid_and_lists_access():
    validate(document())
    assert document()["paths"]["/access/doors/{id}/open"]["post"]["responses"].keys() >= {"202", "503"}
    assert "text/csv" in document()["paths"]["/estates/{estate}/access/log.csv"]["get"]["responses"]["200"]["content"]
