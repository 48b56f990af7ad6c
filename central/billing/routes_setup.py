"""HTTP routes that set billing up: fee items, rule versions, assignments, the estate's billing policy."""
from __future__ import annotations

from aiohttp import web

from central.api.body import parse_body
from central.billing import items
from central.billing.http import estate_of
from central.registry.crud import add_route, child_create, estate_create, estate_list, item_action, item_update
from central.registry.http import confine, endpoint, engine, path_id, principal, reply

routes = web.RouteTableDef()
ID = r"{id:\d+}"


add_route(routes, estate_list("/estates/{estate}/fee-items", "billing.fee_items.list",
                             "Fee items with their rule versions.", items.list_items))
add_route(routes, estate_create(
    "/estates/{estate}/fee-items", "billing.fee_items.create",
    "Add a fee item (area, usage_tiered, parking_monthly, parking_temporary, fixed, shared_allocation).",
    items.ItemCreate, items.create_item))
add_route(routes, item_update(f"/fee-items/{ID}", "billing.fee_items.update",
                             "Rename a fee item, change its scope, or stop billing it.",
                             items.ItemUpdate, items.get_item, "fee item", items.update_item))


@routes.get(f"/fee-items/{ID}/rules", name="billing.rules.list")
@endpoint
async def list_rules(request: web.Request) -> web.Response:
    """The item's rule versions by effective date."""
    async with engine(request).connect() as conn:
        confine(principal(request), await items.get_item(conn, path_id(request)), "fee item")
        return reply({"items": await items.list_rules(conn, item_id=path_id(request))})


add_route(routes, child_create(f"/fee-items/{ID}/rules", "billing.rules.create",
                              "Add a rule version, in force from its effective date.",
                              items.RuleCreate, items.get_item, "fee item", items.create_rule))
add_route(routes, item_update(f"/fee-rules/{ID}", "billing.rules.update",
                             "Correct a rule version that has priced nothing yet (409 once used).",
                             items.RuleUpdate, items.get_rule, "rule version", items.update_rule))


@routes.get(f"/fee-items/{ID}/assignments", name="billing.assignments.list")
@endpoint
async def list_assignments(request: web.Request) -> web.Response:
    """The units the item is assigned to, with household sizes."""
    async with engine(request).connect() as conn:
        confine(principal(request), await items.get_item(conn, path_id(request)), "fee item")
        return reply({"items": await items.list_assignments(conn, path_id(request))})


add_route(routes, item_action(f"/fee-items/{ID}/assignments", "billing.assignments.set",
                             "Assign the item to units (or change household sizes) and remove assignments.",
                             items.AssignmentsSet, items.get_item, "fee item", items.set_assignments))


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
