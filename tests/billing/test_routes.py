"""Billing through HTTP with real accounts: who may preview and post runs, the progress of a run started in the
background, the desk's payments and receipts, and residents confined to their own units."""
from __future__ import annotations

import asyncio

from central.api.mount import routes as api_routes
from central.auth.permissions import BILLING, PUBLIC
from central.billing.permissions import WEBHOOK
from central.billing.routes import routes as billing_routes
from tests.billing.conftest import OFFICE, add_item, setup_march


def test_every_route_is_in_the_permission_table():
    names = {route.kwargs["name"] for route in billing_routes}
    assert names == set(BILLING) | {WEBHOOK} and WEBHOOK in PUBLIC
    assert names <= {route.kwargs["name"] for route in api_routes if hasattr(route, "kwargs")}


async def test_runs_by_role_and_progress_of_a_background_run(api, engine, demo):
    await setup_march(engine, demo)
    status, run = await api("cashier", "POST", "/estates/demo/bill-runs/preview", {"period": "2025-03"})
    assert (status, run["status"], run["bills"], run["total"]) == (201, "previewed", 3, "2140.48")
    assert (await api("cashier", "POST", "/estates/demo/bill-runs", {"period": "2025-03"}))[0] == 403
    assert (await api("guard", "POST", "/estates/demo/bill-runs/preview", {"period": "2025-03"}))[0] == 403
    assert (await api("manager-b", "POST", "/estates/demo/bill-runs", {"period": "2025-03"}))[0] == 404
    status, answer = await api("manager", "POST", "/estates/demo/bill-runs", {"period": "2025-3"})
    assert status == 400 and "period" in answer["message"]

    status, started = await api("manager", "POST", "/estates/demo/bill-runs", {"period": "2025-03", "wait": False})
    assert status == 202 and started["status"] == "running"
    for _ in range(200):
        status, run = await api("cashier", "GET", f"/bill-runs/{started['id']}")
        assert status == 200 and (run["progress"] is None) == (run["status"] != "running")
        if run["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert (run["status"], run["bills"], run["lines"], run["total"]) == ("posted", 3, 12, "2140.48")
    assert (await api("manager-b", "GET", f"/bill-runs/{started['id']}"))[0] == 404
    status, listed = await api("manager", "GET", "/estates/demo/bill-runs?period=2025-03")
    assert [r["status"] for r in listed["items"]] == ["posted", "previewed"]


async def test_residents_see_only_their_own_bills_and_statements(api, engine, demo):
    await setup_march(engine, demo)
    assert (await api("manager", "POST", "/estates/demo/bill-runs", {"period": "2025-03"}))[0] == 201
    mine, theirs = demo["3-1201"], demo["3-1202"]
    status, page = await api("resident", "GET", f"/units/{mine}/bills")
    assert status == 200 and [(b["total"], b["status"]) for b in page["items"]] == [("1104.81", "open")]
    status, bill = await api("resident", "GET", f"/bills/{page['items'][0]['id']}")
    assert status == 200 and [line["rule_version"] for line in bill["lines"]] == ["2025"] * 5
    status, statement = await api("resident", "GET", f"/units/{mine}/statement?from=2025-01&to=2026-12")
    assert status == 200 and statement["closing_balance"] == "1104.81" and statement["unit"] == "3-1201"
    status, other = await api("cashier", "GET", f"/units/{theirs}/bills")
    assert status == 200
    assert (await api("resident", "GET", f"/units/{theirs}/bills"))[0] == 404
    assert (await api("resident", "GET", f"/bills/{other['items'][0]['id']}"))[0] == 404
    assert (await api("resident", "GET", "/estates/demo/bills"))[0] == 403
    assert (await api("manager-b", "GET", f"/units/{mine}/statement?from=2025-01&to=2025-03"))[0] == 404


async def test_the_desk_takes_payments_and_prints_receipts(api, engine, demo):
    await setup_march(engine, demo)
    await api("manager", "POST", "/estates/demo/bill-runs", {"period": "2025-03"})
    unit = demo["3-1201"]
    status, answer = await api("cashier", "POST", f"/units/{unit}/payments", {"method": "cash", "amount": 100.5})
    assert status == 400 and "strings" in answer["message"]
    status, receipt = await api("cashier", "POST", f"/units/{unit}/payments", {"method": "card", "amount": "1104.81"})
    assert status == 201 and receipt["balance_after"] == "0.00" and receipt["actor"] == "cashier"
    assert (await api("resident", "GET", f"/payments/{receipt['id']}"))[1]["receipt_no"] == receipt["receipt_no"]
    status, bills = await api("resident", "GET", f"/units/{unit}/bills")
    assert bills["items"][0]["status"] == "paid"
    assert (await api("cashier", "POST", f"/units/{unit}/refunds", {"method": "cash", "amount": "1.00",
                                                                    "note": "no"}))[0] == 403
    status, report = await api("cashier", "GET", "/estates/demo/billing-report?period=2025-03")
    assert status == 200 and report["totals"]["billed"] == "2140.48"
    status, owing = await api("cashier", "GET", "/estates/demo/arrears?period=2026-12")
    assert status == 200 and owing["total"] == "1035.67" and owing["units"] == 2
    status, payments = await api("cashier", "GET", f"/estates/demo/payments?unit={unit}")
    assert [p["receipt_no"] for p in payments["items"]] == [receipt["receipt_no"]]


async def test_temporary_parking_quote_and_charge(api, engine, demo):
    async with engine.begin() as conn:
        await add_item(conn, "visitor-parking", "parking_temporary", {
            "free_minutes": 30, "block_minutes": 60, "block_price": "5.00", "daily_cap": "30.00"})
    stay = {"entry": "2026-11-20T08:00:00+08:00", "leaving": "2026-11-21T10:10:00+08:00"}
    status, quote = await api("cashier", "POST", "/estates/demo/parking-quote", stay)
    # 26 h 10 min from entry: day 1 is 24 blocks, capped at 30.00; day 2 has 3 blocks started, 15.00
    assert status == 200 and [line["amount"] for line in quote["lines"]] == ["30.00", "15.00"]
    assert quote["total"] == "45.00"
    status, bill = await api("manager", "POST", f"/units/{demo['3-1202']}/charges",
                             {"fee_item_id": quote["fee_item_id"], **stay})
    assert status == 201 and bill["origin"] == "charge" and bill["total"] == "45.00"
    assert all(line["rule_name"] == "visitor-parking" and line["posting_id"] for line in bill["lines"])
    assert OFFICE.username != "manager"
