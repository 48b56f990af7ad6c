"""HTTP routes for cards and visitor passes. A resident sees and reports lost only their own cards, and issues
passes for their own building's door groups; anything else answers 404, like a missing record."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access import cards, passes
from central.access.errors import NotFound
from central.access.http import announce, estate_change, item_change
from central.access.routes_setup import newest_first, newest_page
from central.access.signing import public_key_text
from central.api.body import parse_body
from central.auth.scope import check_estate
from central.registry.http import (check_query, confine, endpoint, engine, is_resident, page, page_params, path_id,
                                   principal, query_int, reply)

custom = web.RouteTableDef()
ID = r"{id:\d+}"
CARD = f"/access/cards/{ID}"


async def _visible_card(conn: AsyncConnection, request: web.Request) -> dict[str, Any]:
    who, card_id = principal(request), path_id(request)
    card = confine(who, await cards.get_card(conn, card_id), "card")
    if is_resident(who) and (who.resident_id is None or card["resident_id"] != who.resident_id):
        raise NotFound(f"no card with id {card_id}")
    return card


@custom.get("/estates/{estate}/access/cards", name="access.cards.list")
@endpoint
async def list_cards(request: web.Request) -> web.Response:
    """Cards of the estate, by state, card number or holder; a resident sees their own."""
    who, estate = principal(request), request.match_info["estate"]
    check_estate(who, estate)
    check_query(request, {"state", "card", "resident_id", "staff_id", "cursor", "limit"})
    after, limit = page_params(request)
    resident_id, staff_id = query_int(request, "resident_id"), query_int(request, "staff_id")
    if is_resident(who):
        resident_id, staff_id = who.resident_id or 0, None
    async with engine(request).connect() as conn:
        items = await cards.list_cards(conn, estate, state=request.query.get("state"),
                                       card=request.query.get("card"), resident_id=resident_id, staff_id=staff_id,
                                       after=after, limit=limit)
    return reply(page(items, limit))


@custom.get(CARD, name="access.cards.get")
@endpoint
async def get_card(request: web.Request) -> web.Response:
    """A card with its holder and the card that replaced it."""
    async with engine(request).connect() as conn:
        return reply(await _visible_card(conn, request))


@custom.get(f"{CARD}/history", name="access.cards.history")
@endpoint
async def card_history(request: web.Request) -> web.Response:
    """What happened to a card, oldest first."""
    async with engine(request).connect() as conn:
        card = await _visible_card(conn, request)
        return reply({"items": await cards.history(conn, card["id"])})


@custom.post(f"{CARD}/report-lost", name="access.cards.report_lost")
@endpoint
async def report_lost(request: web.Request) -> web.Response:
    """Report a card lost: every online gateway of the estate denies it within seconds, for good."""
    body = await parse_body(request, cards.CardAction)
    async with engine(request).begin() as conn:
        card = await _visible_card(conn, request)
        result = await cards.act(conn, principal(request), card["id"], "report_lost", body)
    return reply(announce(request, result))


@custom.get("/estates/{estate}/access/visitor-passes", name="access.passes.list")
@endpoint
async def list_passes(request: web.Request) -> web.Response:
    """Visitor passes issued in the estate, newest first; a resident sees those they issued."""
    who, estate = principal(request), request.match_info["estate"]
    check_estate(who, estate)
    check_query(request, {"cursor", "limit"})
    before, limit = newest_first(request)
    async with engine(request).connect() as conn:
        items = await passes.list_passes(conn, estate, issued_by_id=who.user_id if is_resident(who) else None,
                                         before_id=before, limit=limit)
    return reply(newest_page(items, limit))


@custom.post("/estates/{estate}/access/visitor-passes", name="access.passes.create")
@endpoint
async def issue_pass(request: web.Request) -> web.Response:
    """Issue a signed visitor pass; the answer's text is the QR code and its grouped form the typed code."""
    who, estate = principal(request), request.match_info["estate"]
    check_estate(who, estate)
    body = await parse_body(request, passes.PassIssue)
    async with engine(request).begin() as conn:
        return reply(await passes.issue_pass(conn, who, estate, body), 201)


@custom.get("/access/pass-key", name="access.pass_key.get")
@endpoint
async def pass_key(request: web.Request) -> web.Response:
    """The public key gateways verify visitor passes with (Ed25519, 32 bytes, base64)."""
    check_query(request, set())
    return reply({"algorithm": "ed25519", "encoding": "base64", "public_key": public_key_text()})


def _action(action: str) -> Any:
    async def service(conn: AsyncConnection, actor: Any, card_id: int, body: cards.CardAction) -> dict[str, Any]:
        return await cards.act(conn, actor, card_id, action, body)
    return service


routes = [
    *custom,
    estate_change("/estates/{estate}/access/cards", "access.cards.issue",
                  "Issue a card to a resident or staff member of the estate", cards.CardIssue, cards.issue_card),
    item_change("PATCH", CARD, "access.cards.update", "Change a live card's door groups, validity or note",
                cards.get_card, "card", cards.update_card, cards.CardUpdate),
    item_change("POST", f"{CARD}/suspend", "access.cards.suspend", "Suspend a card (it can be reactivated)",
                cards.get_card, "card", _action("suspend"), cards.CardAction),
    item_change("POST", f"{CARD}/reactivate", "access.cards.reactivate", "Reactivate a suspended card",
                cards.get_card, "card", _action("reactivate"), cards.CardAction),
    item_change("POST", f"{CARD}/return", "access.cards.mark_returned",
                "Take a card back (its number may be issued again)",
                cards.get_card, "card", _action("return"), cards.CardAction),
    item_change("POST", f"{CARD}/replace", "access.cards.replace",
                "Replace a card: the old one becomes lost or returned, a new one goes to the same holder",
                cards.get_card, "card", cards.replace_card, cards.CardReplace),
]
