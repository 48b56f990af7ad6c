"""HTTP routes that set billing up: fee items, rule versions, assignments, the estate's billing policy."""
from __future__ import annotations

from aiohttp import web

from central.api.body import parse_body
from central.billing import items
from central.billing.http import estate_of
from central.registry.http import check_query, confine, endpoint, engine, path_id, principal, reply

routes = web.RouteTableDef()
ID = r"{id:\d+}"


@routes.get("/estates/{estate}/fee-items", name="billing.fee_items.list")
@endpoint
async def list_items(request: web.Request) -> web.Response:
    """Fee items with their rule versions."""
    estate = estate_of(request)
    check_query(request, set())
    async with engine(request).connect() as conn:
        return reply({"items": await items.list_items(conn, estate)})


@routes.post("/estates/{estate}/fee-items", name="billing.fee_items.create")
@endpoint
async def create_item(request: web.Request) -> web.Response:
    """Add a fee item (area, usage_tiered, parking_monthly, parking_temporary, fixed, shared_allocation)."""
    estate = estate_of(request)
    body = await parse_body(request, items.ItemCreate)
    async with engine(request).begin() as conn:
        return reply(await items.create_item(conn, principal(request), estate, body), 201)


@routes.patch(f"/fee-items/{ID}", name="billing.fee_items.update")
@endpoint
async def update_item(request: web.Request) -> web.Response:
    """Rename a fee item, change its scope, or stop billing it."""
    body = await parse_body(request, items.ItemUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await items.get_item(conn, path_id(request)), "fee item")
        return reply(await items.update_item(conn, principal(request), path_id(request), body))


@routes.get(f"/fee-items/{ID}/rules", name="billing.rules.list")
@endpoint
async def list_rules(request: web.Request) -> web.Response:
    """The item's rule versions by effective date."""
    async with engine(request).connect() as conn:
        confine(principal(request), await items.get_item(conn, path_id(request)), "fee item")
        return reply({"items": await items.list_rules(conn, item_id=path_id(request))})


@routes.post(f"/fee-items/{ID}/rules", name="billing.rules.create")
@endpoint
async def create_rule(request: web.Request) -> web.Response:
    """Add a rule version, in force from its effective date."""
    body = await parse_body(request, items.RuleCreate)
    async with engine(request).begin() as conn:
        confine(principal(request), await items.get_item(conn, path_id(request)), "fee item")
        return reply(await items.create_rule(conn, principal(request), path_id(request), body), 201)


@routes.patch(f"/fee-rules/{ID}", name="billing.rules.update")
@endpoint
async def update_rule(request: web.Request) -> web.Response:
    """Correct a rule version that has priced nothing yet (409 once used)."""
    body = await parse_body(request, items.RuleUpdate)
    async with engine(request).begin() as conn:
        confine(principal(request), await items.get_rule(conn, path_id(request)), "rule version")
        return reply(await items.update_rule(conn, principal(request), path_id(request), body))


@routes.get(f"/fee-items/{ID}/assignments", name="billing.assignments.list")
@endpoint
async def list_assignments(request: web.Request) -> web.Response:
    """The units the item is assigned to, with household sizes."""
    async with engine(request).connect() as conn:
        confine(principal(request), await items.get_item(conn, path_id(request)), "fee item")
        return reply({"items": await items.list_assignments(conn, path_id(request))})


@routes.post(f"/fee-items/{ID}/assignments", name="billing.assignments.set")
@endpoint
async def set_assignments(request: web.Request) -> web.Response:
    """Assign the item to units (or change household sizes) and remove assignments."""
    body = await parse_body(request, items.AssignmentsSet)
    async with engine(request).begin() as conn:
        confine(principal(request), await items.get_item(conn, path_id(request)), "fee item")
        return reply(await items.set_assignments(conn, principal(request), path_id(request), body))


@routes.get("/estates/{estate}/billing-policy", name="billing.policy.get")
@endpoint
async def get_policy(request: web.Request) -> web.Response:
    """When bills fall due and how late fees accrue."""
    estate = estate_of(request)
    async with engine(request).connect() as conn:
        return reply(await items.get_policy(conn, estate))


@routes.patch("/estates/{estate}/billing-policy", name="billing.policy.update")
@endpoint
async def update_policy(request: web.Request) -> web.Response:
    """Change the due months, late-fee rate, cap or grace days."""
    estate = estate_of(request)
    body = await parse_body(request, items.PolicyUpdate)
    async with engine(request).begin() as conn:
        return reply(await items.update_policy(conn, principal(request), estate, body))
