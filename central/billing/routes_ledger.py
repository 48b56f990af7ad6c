"""HTTP routes of the ledger: the desk's payments and receipts, refunds, discounts, corrections, late fees, and
the payment providers' webhook (public: the provider has no account, its signature is its authentication)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.body import parse_body
from central.api.errors import json_error
from central.api.params import parse_time
from central.billing import cashier, late_fees, providers
from central.billing.errors import BadNotification, BadSignature, Replayed
from central.billing.http import estate_of, path_unit_id, visible_record
from central.registry.common import Body
from central.registry.crud import add_route, item_action, scoped_create
from central.registry.http import (check_query, endpoint, engine, page, page_params, path_id, principal, query_int,
                                   reply)

routes = web.RouteTableDef()
ID = r"{id:\d+}"
T = TypeVar("T")


class AssessBody(Body):
    as_of: date
    """The estate day the late fees are for."""


async def retried_once(request: web.Request, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`work` in a transaction; when a unique index stops it (the same payment sent twice at once), once more in a
    new transaction, where it finds the row the other request wrote."""
    try:
        async with engine(request).begin() as conn:
            return await work(conn)
    except IntegrityError:
        pass
    async with engine(request).begin() as conn:
        return await work(conn)


@routes.post(f"/units/{ID}/payments", name="billing.payments.create")
@endpoint
async def take_payment(request: web.Request) -> web.Response:
    """Take a payment or prepayment at the desk (cash, card, transfer); answers the receipt."""
    body = await parse_body(request, cashier.PaymentBody)

    async def take(conn: AsyncConnection) -> dict[str, Any]:
        return await cashier.take_payment(conn, principal(request), await path_unit_id(conn, request), body)
    return reply(await retried_once(request, take), 201)


@routes.get("/estates/{estate}/payments", name="billing.payments.list")
@endpoint
async def list_payments(request: web.Request) -> web.Response:
    """Payments, prepayments and refunds, filtered by time and unit, a page at a time."""
    estate = estate_of(request)
    check_query(request, {"since", "until", "unit", "cursor", "limit"})
    after, limit = page_params(request)
    async with engine(request).connect() as conn:
        items = await cashier.list_payments(
            conn, estate, since=parse_time("since", request.query.get("since")),
            until=parse_time("until", request.query.get("until")), unit_id=query_int(request, "unit"),
            after=after, limit=limit)
    return reply(page(items, limit))


@routes.get(f"/payments/{ID}", name="billing.payments.get")
@endpoint
async def get_payment(request: web.Request) -> web.Response:
    """A payment as its receipt (a resident: only their own units')."""
    async with engine(request).connect() as conn:
        return reply(await visible_record(conn, request, await cashier.receipt(conn, path_id(request)), "payment"))


add_route(routes, scoped_create(f"/units/{ID}/refunds", "billing.refunds.create",
                                "Pay money back out of the unit's credit.",
                                cashier.RefundBody, path_unit_id, cashier.refund))
add_route(routes, scoped_create(f"/units/{ID}/discounts", "billing.discounts.create",
                                "Take an amount off what the unit owes, with the reason.",
                                cashier.DiscountBody, path_unit_id, cashier.discount))
add_route(routes, item_action(f"/postings/{ID}/reversal", "billing.postings.reverse",
                             "Correct a wrong posting with its exact negation.", cashier.ReversalBody,
                             cashier.get_posting, "posting", cashier.reverse, status=201))


@routes.post("/estates/{estate}/late-fees", name="billing.late_fees.assess")
@endpoint
async def assess_late_fees(request: web.Request) -> web.Response:
    """Post the late fees due on a day for every overdue bill; running it again that day posts nothing."""
    estate = estate_of(request)
    body = await parse_body(request, AssessBody)
    async with engine(request).begin() as conn:
        return reply(await late_fees.assess(conn, principal(request), estate, body.as_of))


@routes.post("/payments/webhook/{provider}", name="billing.webhook")
@endpoint
async def webhook(request: web.Request) -> web.Response:
    """A payment provider's notification, posted once however often it is notified (public: signed instead)."""
    provider = providers.provider_named(request.match_info["provider"])
    body = await request.read()  # the signature covers these exact bytes; the app caps their size
    try:
        return reply(await retried_once(request, lambda conn: providers.receive(conn, provider, request.headers,
                                                                                 body)))
    except BadSignature as exc:
        raise json_error(web.HTTPUnauthorized, "bad_signature", exc.message) from None
    except Replayed as exc:
        raise json_error(web.HTTPConflict, "replayed", exc.message) from None
    except BadNotification as exc:
        raise json_error(web.HTTPUnprocessableEntity, "bad_notification", exc.message) from None
