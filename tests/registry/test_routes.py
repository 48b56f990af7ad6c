"""The registry through HTTP, with real accounts and tokens: what each role sees and may change."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from central.auth import routes as auth_routes
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.registry import estates, residents
from central.registry.permissions import REGISTRY_PERMISSIONS
from central.registry.routes import add_routes
from central.registry.routes import routes as registry_routes
from tests.support.api_app import api_app, role_tokens

ID_NUMBER = "11010519491231002X"


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    async def __call__(self, who: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        resp = await self.client.request(method, "/api/v1" + path, json=body,
                                         headers={"Authorization": f"Bearer {self.tokens[who]}"})
        return resp.status, await resp.json()


@pytest.fixture
async def api(engine):
    async with engine.begin() as conn:
        for code in ("demo", "other"):
            await estates.create_estate(conn, SYSTEM, estates.EstateCreate(code=code, name=code.title()))
        me = await residents.create_resident(conn, SYSTEM, "demo", residents.ResidentCreate(name="Resident Self"))
        tokens = await role_tokens(conn, (("admin", Role.ADMIN, None), ("manager", Role.MANAGER, "demo"),
                                           ("cashier", Role.CASHIER, "demo"), ("guard", Role.GUARD, "demo"),
                                           ("guard-b", Role.GUARD, "other"), ("technician", Role.TECHNICIAN, "demo"),
                                           ("patrol", Role.PATROL, "demo"), ("resident", Role.RESIDENT, "demo")), me["id"])
    app = api_app(engine, add_routes, routes=auth_routes.routes)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, {**tokens, "self_id": me["id"]})


async def test_an_office_day_through_the_api(api):
    call = api
    assert (await call("manager", "POST", "/estates/demo/buildings", {"code": "3", "floors": 18}))[0] == 201
    status, unit = await call("manager", "POST", "/estates/demo/units", {
        "building": "3", "number": "1201", "floor": 12, "layout": "3室2厅", "built_area": "120.50",
        "usable_area": 98.25})
    assert status == 201 and unit["built_area"] == "120.50" and unit["usable_area"] == "98.25"
    status, person = await call("manager", "POST", "/estates/demo/residents", {
        "name": "Wang Fang", "phone": "13800138000", "identity_number": ID_NUMBER, "notes": "owner since 2015"})
    assert status == 201 and person["identity_number"] == "1101**********002X"
    status, lives = await call("manager", "POST", f"/residents/{person['id']}/occupancies", {
        "unit_id": unit["id"], "relation": "owner", "move_in": "2015-05-01"})
    assert status == 201 and lives["current"] is True
    assert (await call("manager", "POST", f"/residents/{person['id']}/vehicles", {"plate": "京A·12345"}))[0] == 201

    status, found = await call("guard", "GET", "/estates/demo/search?q=8000")
    assert status == 200 and [(h["type"], h["units"][0]["number"]) for h in found["hits"]] == [("resident", "1201")]
    status, found = await call("cashier", "GET", "/estates/demo/search?q=" + ID_NUMBER)
    assert [h["matched"] for h in found["hits"]] == [["identity_number"]]
    status, shown = await call("guard", "GET", f"/units/{unit['id']}")
    assert [o["resident_name"] for o in shown["occupants"]] == ["Wang Fang"]

    status, ended = await call("manager", "POST", f"/occupancies/{lives['id']}/move-out", {"move_out": "2026-01-31"})
    assert status == 200 and ended["move_out"] == "2026-01-31"
    status, history = await call("cashier", "GET", f"/units/{unit['id']}/occupancies")
    assert [(o["resident_name"], o["move_out"]) for o in history["items"]] == [("Wang Fang", "2026-01-31")]

    status, changed = await call("manager", "PATCH", f"/units/{unit['id']}", {"status": "renovating"})
    assert status == 200 and changed["status"] == "renovating"
    status, audit = await call("manager", "GET", "/audit?entity=unit")
    assert [e["action"] for e in audit["items"]] == ["unit.update", "unit.create"]
    latest = audit["items"][0]
    assert (latest["actor"], latest["before"]["status"], latest["after"]["status"]) == (
        "manager", "vacant", "renovating")
    status, audit = await call("manager", "GET", "/audit?entity=resident")
    assert ID_NUMBER not in str(audit), "identity numbers never reach the audit log"


async def test_staff_attendance_and_performance_through_the_api(api):
    call = api
    status, worker = await call("manager", "POST", "/estates/demo/staff", {
        "name": "Liu Yang", "position": "guard", "shift": "day", "joined_on": "2026-11-01"})
    assert status == 201
    assert (await call("manager", "POST", f"/staff/{worker['id']}/cards", {"card": "aaaa000001"}))[1]["card"] == \
        "AAAA000001"
    assert (await call("manager", "POST", "/estates/demo/attendance-points", {
        "gateway": "gate-1", "device": "staff-door"}))[1]["direction"] == "toggle"
    for at, kind in (("2026-11-02T09:00:00+08:00", "in"), ("2026-11-02T17:30:00+08:00", "out")):
        status, entry = await call("manager", "POST", f"/staff/{worker['id']}/attendance", {
            "at": at, "kind": kind, "note": "reader down"})
        assert status == 201 and entry["source"] == "manual"
    assert entry["at"] == "2026-11-02T09:30:00Z"
    status, sheet = await call("manager", "GET", "/estates/demo/attendance?month=2026-11")
    day = sheet["staff"][0]["days"][1]
    assert (day["date"], day["first_in"], day["worked_hours"]) == ("2026-11-02", "2026-11-02T09:00:00+08:00", "8.50")
    status, records = await call("manager", "GET", f"/staff/{worker['id']}/attendance?month=2026-11")
    assert [r["kind"] for r in records["items"]] == ["in", "out"]
    assert (await call("manager", "GET", "/estates/demo/attendance"))[1]["message"].startswith("month: required")
    assert "YYYY-MM" in (await call("manager", "GET", "/estates/demo/attendance?month=11-2026"))[1]["message"]
    status, rating = await call("manager", "POST", f"/staff/{worker['id']}/performance", {
        "period": "2026-11", "metric": "tasks_done", "value": 42})
    assert status == 201 and rating["value"] == "42.00"
    assert (await call("guard", "GET", "/estates/demo/staff"))[0] == 403


async def test_tenancy_and_roles(api):
    call = api
    await call("manager", "POST", "/estates/demo/buildings", {"code": "1"})
    _, mine = await call("manager", "POST", "/estates/demo/units", {"building": "1", "number": "101"})
    _, theirs = await call("manager", "POST", "/estates/demo/units", {"building": "1", "number": "102"})
    _, other_person = await call("manager", "POST", "/estates/demo/residents", {"name": "Neighbour"})
    self_id = api.tokens["self_id"]
    await call("manager", "POST", f"/residents/{self_id}/occupancies", {
        "unit_id": mine["id"], "relation": "tenant", "move_in": "2024-01-01"})
    await call("manager", "POST", f"/residents/{self_id}/vehicles", {"plate": "沪B99999"})

    assert (await call("guard-b", "GET", "/estates/demo/units"))[0] == 404, "another estate does not exist for them"
    assert (await call("guard-b", "GET", f"/units/{mine['id']}"))[0] == 404
    assert (await call("guard-b", "GET", f"/residents/{self_id}"))[0] == 404
    assert [e["code"] for e in (await call("guard-b", "GET", "/estates"))[1]["items"]] == ["other"]
    assert (await call("guard", "POST", "/estates/demo/residents", {"name": "x"}))[0] == 403
    assert (await call("technician", "GET", f"/units/{mine['id']}"))[0] == 200
    assert (await call("technician", "GET", "/estates/demo/residents"))[0] == 403
    assert (await call("patrol", "GET", "/estates/demo/units"))[0] == 403

    status, units = await call("resident", "GET", "/estates/demo/units")
    assert status == 200 and [u["id"] for u in units["items"]] == [mine["id"]]
    assert (await call("resident", "GET", f"/units/{theirs['id']}"))[0] == 404
    status, unit = await call("resident", "GET", f"/units/{mine['id']}")
    assert status == 200 and "occupants" not in unit
    status, me = await call("resident", "GET", f"/residents/{self_id}")
    assert status == 200 and "notes" not in me and [v["plate"] for v in me["vehicles"]] == ["沪B99999"]
    assert (await call("resident", "GET", f"/residents/{other_person['id']}"))[0] == 404
    assert [v["plate"] for v in (await call("resident", "GET", "/estates/demo/vehicles"))[1]["items"]] == ["沪B99999"]
    status, changed = await call("resident", "PATCH", f"/residents/{self_id}/contact", {"phone": "13912345678"})
    assert status == 200 and changed["phone"] == "13912345678"
    assert (await call("resident", "PATCH", f"/residents/{other_person['id']}/contact", {"phone": "1"}))[0] == 404
    status, refused = await call("resident", "PATCH", f"/residents/{self_id}/contact", {"name": "Someone Else"})
    assert status == 400 and refused["message"] == "name: unknown field"
    assert (await call("resident", "PATCH", f"/residents/{self_id}", {"notes": "vip"}))[0] == 403
    assert (await call("resident", "GET", "/estates/demo/search?q=Neighbour"))[0] == 403


async def test_bad_input_is_answered_precisely(api):
    call = api
    await call("manager", "POST", "/estates/demo/buildings", {"code": "3"})
    status, body = await call("manager", "POST", "/estates/demo/units", {"building": "3", "number": "1",
                                                                          "built_area": "lots"})
    assert status == 400 and body["message"].startswith("built_area")
    status, body = await call("manager", "POST", "/estates/demo/units", {"building": "9", "number": "1"})
    assert status == 400 and body["message"] == "building: estate 'demo' has no building '9'"
    assert (await call("manager", "POST", "/estates/demo/units", {"building": "3", "number": "1"}))[0] == 201
    status, body = await call("manager", "POST", "/estates/demo/units", {"building": "3", "number": "1"})
    assert status == 409 and body["error"] == "conflict"
    assert (await call("manager", "GET", "/estates/demo/search"))[1]["message"].startswith("q:")
    assert (await call("manager", "GET", "/estates/demo/units?colour=red"))[1]["message"].startswith("unknown param")
    assert (await call("manager", "GET", "/units/99999999999999999999"))[0] == 404
    status, page = await call("manager", "GET", "/estates/demo/units?limit=1")
    assert status == 200 and page["next_cursor"] is not None
    assert (await call("manager", "GET", f"/estates/demo/units?limit=1&cursor={page['next_cursor']}"))[1]["items"] == []
    status, body = await call("manager", "POST", "/estates/demo/residents", {"name": "nul\u0000byte"})
    assert status == 400 and body["message"] == "name: Value error, contains a NUL character"
    status, body = await call("manager", "POST", "/estates/demo/buildings", {"code": "4", "name": "x" * 129})
    assert status == 400 and body["message"].startswith("name: String should have at most 128 characters")
    status, body = await call("manager", "POST", "/residents/1/occupancies", {
        "unit_id": 2**64, "relation": "owner", "move_in": "2020-01-01"})
    assert status == 400 and body["message"].startswith("unit_id:")
    assert (await call("manager", "POST", "/estates", {"code": "new", "name": "New"}))[0] == 403
    assert (await call("admin", "POST", "/estates", {"code": "New Estate", "name": "x"}))[0] == 400


async def test_every_registry_route_with_every_role_matches_the_table(api):
    """Until the registry is mounted in central.api, walk its routes here as tests/auth does for the whole API."""
    roles = ("admin", "manager", "cashier", "guard", "technician", "patrol", "resident")
    wrong = []
    for route in sorted(registry_routes, key=lambda r: r.method == "DELETE"):
        name = route.kwargs["name"]
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: "demo" if m.group(1) == "estate" else "1", route.path)
        for who in roles:
            body = {} if route.method in ("POST", "PATCH") else None
            status, answer = await api(who, route.method, path, body)
            allowed = Role(who) in REGISTRY_PERMISSIONS[name]
            if allowed and status in (401, 403, 500) or not allowed and status != 403:
                wrong.append(f"{route.method} {route.path} as {who}: {status} {answer}")
    assert not wrong, "\n".join(wrong)
