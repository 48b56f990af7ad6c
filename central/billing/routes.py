"""HTTP routes of billing (each name is in BILLING in central/billing/permissions.py): bill runs with their
progress, bills, statements and reports; the setup and ledger routes are in routes_setup.py and routes_ledger.py.

A record of an estate the user may not see answers 404, like a missing one; a resident reaches only the bills
and statements of the units they live in now.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from central.api.body import parse_body
from central.billing import charges, reports, runs
from central.billing.http import estate_of, path_unit_id, period_query, runner_of, visible_record, visible_unit
from central.billing.ledger import unit_position
from central.billing.routes_ledger import routes as ledger_routes
from central.billing.routes_setup import routes as setup_routes
from central.registry.common import Body
from central.registry.crud import add_route, scoped_create
from central.registry.http import (check_query, confine, endpoint, engine, page, page_params, path_id, principal,
                                   query_int, reply)

table = web.RouteTableDef()
ID = r"{id:\d+}"


class RunBody(Body):
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    """YYYY-MM, the estate's month."""
    wait: bool = True
    """False: answer 202 at once and watch GET /bill-runs/{id} for progress."""


async def _run(request: web.Request, mode: str) -> web.Response:
    estate = estate_of(request)
    body = await parse_body(request, RunBody)
    runner = runner_of(request)
    run_id = await runner.start(principal(request), estate, body.period, mode)
    if not body.wait:
        return reply({"id": run_id, "status": "running", "progress": runner.progress_of(run_id)}, 202)
    await runner.wait(run_id)
    async with engine(request).connect() as conn:
        return reply(await runs.get_run(conn, run_id), 201)


@table.post("/estates/{estate}/bill-runs/preview", name="billing.runs.preview")
@endpoint
async def preview_run(request: web.Request) -> web.Response:
    """Price a period without posting: totals, counts, and what is held and why."""
    return await _run(request, "preview")


@table.post("/estates/{estate}/bill-runs", name="billing.runs.post")
@endpoint
async def post_run(request: web.Request) -> web.Response:
    """Post a period's bills and charges; what the period billed before is left alone."""
    return await _run(request, "post")


@table.get("/estates/{estate}/bill-runs", name="billing.runs.list")
@endpoint
async def list_runs(request: web.Request) -> web.Response:
    """The estate's runs, newest first."""
    estate = estate_of(request)
    check_query(request, {"period"})
    async with engine(request).connect() as conn:
        return reply({"items": await runs.list_runs(conn, estate, period_query(request, required=False))})


@table.get(f"/bill-runs/{ID}", name="billing.runs.get")
@endpoint
async def get_run(request: web.Request) -> web.Response:
    """A run: its status, counts, totals, held items, and while it runs its progress (stage, done, total)."""
    progress = runner_of(request).progress_of(path_id(request))  # before the row: it may end meanwhile
    async with engine(request).connect() as conn:
        run = confine(principal(request), await runs.get_run(conn, path_id(request)), "bill run")
    return reply({**run, "progress": progress if run["status"] == "running" else None})


@table.get("/estates/{estate}/bills", name="billing.bills.list")
@endpoint
async def list_bills(request: web.Request) -> web.Response:
    """Bills of the estate, by period and unit, a page at a time."""
    estate = estate_of(request)
    check_query(request, {"period", "unit", "cursor", "limit"})
    after, limit = page_params(request)
    unit = query_int(request, "unit")
    async with engine(request).connect() as conn:
        items = await reports.bills_of(conn, estate=estate, unit_ids={unit} if unit else None,
                                       period=period_query(request, required=False), after=after, limit=limit)
    return reply(page(items, limit))


async def _with_status(conn: Any, bill: dict[str, Any]) -> dict[str, Any]:
    outstanding = (await unit_position(conn, bill["unit_id"])).outstanding_by_bill().get(bill["id"])
    owed = outstanding if outstanding is not None else 0
    return {**bill, "outstanding": owed, "status": "paid" if owed == 0 else (
        "open" if owed == bill["total"] else "part_paid")}


@table.get(f"/bills/{ID}", name="billing.bills.get")
@endpoint
async def get_bill(request: web.Request) -> web.Response:
    """A bill with its lines (each naming the rule version that priced it) and what is still owed."""
    async with engine(request).connect() as conn:
        bill = await visible_record(conn, request, await charges.get_bill(conn, path_id(request)), "bill")
        return reply(await _with_status(conn, bill))


@table.get(f"/units/{ID}/bills", name="billing.units.bills")
@endpoint
async def unit_bills(request: web.Request) -> web.Response:
    """The unit's bills, oldest first, a page at a time."""
    check_query(request, {"period", "cursor", "limit"})
    after, limit = page_params(request)
    async with engine(request).connect() as conn:
        unit = await visible_unit(conn, request, path_id(request))
        items = await reports.bills_of(conn, unit_ids={unit.id}, period=period_query(request, required=False),
                                       after=after, limit=limit)
        items = [await _with_status(conn, bill) for bill in items]
    return reply(page(items, limit))


@table.get(f"/units/{ID}/statement", name="billing.units.statement")
@endpoint
async def unit_statement(request: web.Request) -> web.Response:
    """The unit's statement from one period to another: opening, each posting, closing, arrears to date."""
    check_query(request, {"from", "to"})
    first, last = period_query(request, "from"), period_query(request, "to")
    async with engine(request).connect() as conn:
        unit = await visible_unit(conn, request, path_id(request))
        return reply({"unit": f"{unit.code}-{unit.number}", **await reports.statement(conn, unit.id, first, last)})


@table.get("/estates/{estate}/billing-report", name="billing.reports.period")
@endpoint
async def period_report(request: web.Request) -> web.Response:
    """Receivable, received and arrears for a period: the estate's totals and a page of units."""
    estate = estate_of(request)
    check_query(request, {"period", "after", "limit"})
    _, limit = page_params(request)
    async with engine(request).connect() as conn:
        return reply(await reports.period_report(conn, estate, period_query(request),
                                                 after=query_int(request, "after"), limit=limit))


@table.get("/estates/{estate}/arrears", name="billing.reports.arrears")
@endpoint
async def arrears(request: web.Request) -> web.Response:
    """Units owing at the end of a period, largest first, and the estate's total."""
    estate = estate_of(request)
    check_query(request, {"period"})
    async with engine(request).connect() as conn:
        return reply(await reports.arrears_report(conn, estate, period_query(request)))


add_route(table, scoped_create(f"/units/{ID}/charges", "billing.charges.create",
                               "Bill a one-off charge now: a fixed fee, or a temporary-parking stay.",
                               charges.ChargeBody, path_unit_id, charges.charge))


@table.post("/estates/{estate}/parking-quote", name="billing.parking.quote")
@endpoint
async def parking_quote(request: web.Request) -> web.Response:
    """What a temporary-parking stay costs under the rule in force (free minutes, blocks, daily cap)."""
    estate = estate_of(request)
    body = await parse_body(request, charges.StayBody)
    async with engine(request).connect() as conn:
        return reply(await charges.quote_stay(conn, estate, body))


routes: list[web.RouteDef] = [*setup_routes, *table, *ledger_routes]  # type: ignore[list-item]


def add_routes(api: web.Application) -> None:
    """Mount billing on the API sub-app (the one served at /api/v1)."""
    api.add_routes(routes)

