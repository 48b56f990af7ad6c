"""Metering through HTTP with real accounts and tokens: what each role may see and change, estate by estate."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from aiohttp.test_utils import TestClient, TestServer

from central.auth.permissions import METERING
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.metering.routes import add_routes
from central.metering.routes import routes as metering_routes
from central.registry import residents
from central.transfer.tables import write_csv
from tests.support.api_app import api_app, role_tokens


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    async def __call__(self, who: str, method: str, path: str, body: dict | None = None, *,
                       data: bytes | None = None) -> tuple[int, dict]:
        resp = await self.client.request(method, "/api/v1" + path, json=body, data=data,
                                         headers={"Authorization": f"Bearer {self.tokens[who]}"})
        return resp.status, await resp.json()


@pytest.fixture
async def api(engine, demo):
    async with engine.begin() as conn:
        me = await residents.create_resident(conn, SYSTEM, "demo", residents.ResidentCreate(name="Resident Self"))
        await residents.add_occupancy(conn, SYSTEM, me["id"], residents.OccupancyCreate(
            unit_id=demo["3-1201"], relation="owner", move_in=date(2020, 1, 1)))
        tokens = await role_tokens(conn, (("admin", Role.ADMIN, None), ("manager", Role.MANAGER, "demo"),
                                           ("manager-b", Role.MANAGER, "other"), ("cashier", Role.CASHIER, "demo"),
                                           ("guard", Role.GUARD, "demo"), ("technician", Role.TECHNICIAN, "demo"),
                                           ("resident", Role.RESIDENT, "demo")), me["id"])
    app = api_app(engine, add_routes)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens)


def test_every_route_is_in_the_permission_table():
    assert {route.kwargs["name"] for route in metering_routes} == set(METERING)


async def _setup(api, demo) -> tuple[int, int]:
    """Points for 3-1201 (the resident's) and 3-1202, each with a meter, read on 1 September and 1 October."""
    made = []
    for unit in ("3-1201", "3-1202"):
        status, point = await api("manager", "POST", "/estates/demo/meter-points", {
            "kind": "water", "name": f"{unit} water", "unit_id": demo[unit], "register_limit": "99999.99",
            "max_per_day": "5"})
        assert status == 201, point
        status, meter = await api("manager", "POST", f"/meter-points/{point['id']}/meters", {
            "serial": f"W-{unit}", "installed_at": "2026-08-20T10:00:00+08:00", "first_reading": "10.00",
            "gateway": "gw-1", "device": f"wm-{unit}"})
        assert status == 201, meter
        made.append(point["id"])
    return made[0], made[1]


async def test_roles_and_confinement(api, demo):
    mine, theirs = await _setup(api, demo)
    status, reading = await api("technician", "POST", f"/meter-points/{mine}/readings", {
        "at": "2026-09-01T00:00:00+08:00", "value": "20.00", "serial": "W-3-1201", "note": "round"})
    assert status == 201 and reading["value"] == "20.000" and reading["at"] == "2026-08-31T16:00:00Z"
    assert (await api("manager", "POST", f"/meter-points/{mine}/readings", {
        "at": "2026-10-01T00:00:00+08:00", "value": "50.5"}))[0] == 201
    assert (await api("technician", "POST", "/estates/demo/meter-points", {}))[0] == 403
    assert (await api("cashier", "POST", f"/meter-points/{mine}/readings", {}))[0] == 403
    assert (await api("guard", "GET", "/estates/demo/meter-points"))[0] == 403

    status, used = await api("cashier", "GET", f"/meter-points/{mine}/consumption?month=2026-09")
    assert status == 200 and used["status"] == "ok" and used["quantity"] == "30.500"
    assert used["period"]["start"] == "2026-08-31T16:00:00Z"
    status, page = await api("cashier", "GET", f"/meter-points/{mine}/readings?since=2026-08-31T00:00:00Z")
    assert status == 200 and [r["value"] for r in page["items"]] == ["20.000", "50.500"]

    status, listed = await api("resident", "GET", "/estates/demo/meter-points")
    assert status == 200 and [p["id"] for p in listed["items"]] == [mine]
    assert (await api("resident", "GET", f"/meter-points/{mine}"))[0] == 200
    assert (await api("resident", "GET", f"/meter-points/{theirs}"))[0] == 404
    assert (await api("resident", "GET", f"/meter-points/{theirs}/consumption?month=2026-09"))[0] == 404
    assert (await api("resident", "GET", f"/meter-points/{mine}/consumption?month=2026-09"))[0] == 200
    assert (await api("resident", "GET", f"/meter-points/{mine}/readings"))[0] == 403
    status, fitted = await api("resident", "GET", f"/meter-points/{mine}/meters")
    assert status == 200 and "gateway" not in fitted["items"][0] and fitted["items"][0]["serial"] == "W-3-1201"
    status, fitted = await api("technician", "GET", f"/meter-points/{mine}/meters")
    assert status == 200 and fitted["items"][0]["device"] == "wm-3-1201"

    for method, path in (("GET", f"/meter-points/{mine}"), ("PATCH", f"/meter-points/{mine}"),
                         ("GET", f"/meter-points/{mine}/consumption?month=2026-09"),
                         ("PATCH", f"/readings/{reading['id']}"), ("PATCH", f"/meters/{fitted['items'][0]['id']}"),
                         ("GET", "/estates/demo/meter-points"), ("GET", "/estates/demo/leak-alerts")):
        status, answer = await api("manager-b", method, path, {} if method == "PATCH" else None)
        assert status == 404, (method, path, answer)
    status, _ = await api("manager-b", "GET", "/estates/other/meter-points")
    assert status == 200


async def test_bodies_and_parameters_are_checked(api, demo):
    mine, _ = await _setup(api, demo)
    status, answer = await api("manager", "POST", f"/meter-points/{mine}/readings", {
        "at": "2026-09-01T00:00:00+08:00", "value": 20.5})
    assert status == 400 and "send register values as strings" in answer["message"]
    status, answer = await api("manager", "POST", f"/meter-points/{mine}/readings", {
        "at": "2026-09-01T00:00:00", "value": "1"})
    assert status == 400 and answer["message"].startswith("at:")
    status, answer = await api("manager", "GET", f"/meter-points/{mine}/consumption")
    assert status == 400 and "month=YYYY-MM" in answer["message"]
    status, answer = await api("manager", "GET", f"/meter-points/{mine}/consumption?month=2026-13")
    assert status == 400 and "month" in answer["message"]
    status, answer = await api("manager", "GET", "/estates/demo/meter-points?kind=steam")
    assert status == 400
    status, answer = await api("manager", "POST", "/estates/demo/meter-points", {
        "kind": "water", "name": "3-1201 water", "unit_id": demo["3-1202"], "register_limit": "9999",
        "max_per_day": "5"})
    assert status == 409
    status, answer = await api("manager", "POST", f"/meter-points/{mine}/estimates", {"month": "2026-09"})
    assert status == 409 and "nothing to estimate" in answer["message"]


async def test_replacement_leak_check_and_import_through_the_api(api, demo):
    mine, _ = await _setup(api, demo)
    status, done = await api("manager", "POST", f"/meter-points/{mine}/replacements", {
        "at": "2026-09-15T12:00:00+08:00", "old_final": "30.00", "new": {"serial": "W-NEW", "first_reading": "0"}})
    assert status == 201 and done["removed"]["final_reading"] == "30.000" and done["fitted"]["device"] == "wm-3-1201"
    assert (await api("cashier", "POST", "/estates/demo/leak-check", {}))[0] == 403
    status, checked = await api("manager", "POST", "/estates/demo/leak-check", {})
    assert status == 200 and checked == {"items": []}  # no point has a leak threshold

    bad = write_csv(["meter_point", "at", "value"], [["3-1201 water", "2026-10-01 08:00", "12"],
                                                     ["3-1201 water", "not a time", "13"]])
    status, report = await api("manager", "POST", "/estates/demo/meter-readings/import?filename=r.csv", data=bad)
    assert status == 422 and report["written"] is False and report["problems"][0]["cell"] == "B3"
    status, page = await api("manager", "GET", f"/meter-points/{mine}/readings")
    assert [r["source"] for r in page["items"]] == ["manual", "manual", "manual"]  # fitted, removed, fitted
    good = write_csv(["meter_point", "at", "value"], [["3-1201 water", "2026-10-01 08:00", "12"]])
    status, report = await api("manager", "POST", "/estates/demo/meter-readings/import?dry_run=true", data=good)
    assert status == 200 and report["written"] is False and report["created"] == 1
    status, report = await api("manager", "POST", "/estates/demo/meter-readings/import", data=good)
    assert status == 200 and report["written"] is True
    assert (await api("technician", "POST", "/estates/demo/meter-readings/import", data=good))[0] == 403
    status, _ = await api("manager", "POST", "/estates/demo/meter-readings/import", data=b"")
    assert status == 400
    status, used = await api("manager", "GET", f"/meter-points/{mine}/consumption?since=2026-08-20T10:00:00%2B08:00"
                                               "&until=2026-10-01T09:00:00%2B08:00")
    assert status == 200 and used["quantity"] == "32.000" and [f["type"] for f in used["findings"]] == [
        "meter_replaced"]


async def test_the_billing_register_is_set_and_shown_with_the_binding(api, demo):
    mine, theirs = await _setup(api, demo)
    status, fitted = await api("manager", "GET", f"/meter-points/{theirs}/meters")
    meter = fitted["items"][0]
    assert status == 200 and meter["register"] is None  # a well-known counter bills it
    status, answer = await api("manager", "PATCH", f"/meters/{meter['id']}", {"register": "combined_active_energy"})
    assert status == 200 and answer["register"] == "combined_active_energy"
    for body in ({"register": "Forward Energy"}, {"register": ""}, {"register": 7}):
        status, answer = await api("manager", "PATCH", f"/meters/{meter['id']}", body)
        assert status == 400 and answer["message"].startswith("register:"), answer

    status, done = await api("manager", "POST", f"/meter-points/{mine}/replacements", {
        "at": "2026-09-15T12:00:00+08:00", "old_final": "30.00",
        "new": {"serial": "W-NEW", "first_reading": "0", "register": "volume"}})
    assert status == 201 and (done["fitted"]["device"], done["fitted"]["register"]) == ("wm-3-1201", "volume")
    status, fitted = await api("resident", "GET", f"/meter-points/{mine}/meters")
    assert status == 200 and not {"gateway", "device", "register"} & set(fitted["items"][-1])

    status, point = await api("manager", "POST", "/estates/demo/meter-points", {
        "kind": "water", "name": "lobby water", "common_area_id": demo["lobby"], "register_limit": "99999.99",
        "max_per_day": "5"})
    assert status == 201, point
    status, answer = await api("manager", "POST", f"/meter-points/{point['id']}/meters", {
        "serial": "W-LOBBY", "installed_at": "2026-08-20T10:00:00+08:00", "first_reading": "0", "register": "volume"})
    assert status == 400 and answer["message"].startswith("register:"), answer
