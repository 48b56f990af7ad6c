"""The routes most records share, made from their service functions instead of written out each time.

Every builder returns one aiohttp route definition with its permission-table name. Collection routes sit
under an estate the user must be allowed to see; item routes load the record first and answer 404 for a
record of another estate, exactly like a missing one. The summary becomes the handler's docstring, which
is what the OpenAPI document shows.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.body import parse_body
from central.auth.principal import Principal
from central.auth.scope import check_estate
from central.registry.http import check_query, confine, endpoint, engine, path_id, principal, reply

Getter = Callable[[AsyncConnection, int], Awaitable[dict[str, Any]]]
Lister = Callable[..., Awaitable[list[dict[str, Any]]]]
Creator = Callable[[AsyncConnection, Principal, Any, Any], Awaitable[dict[str, Any]]]
Action = Callable[[AsyncConnection, Principal, int, Any], Awaitable[dict[str, Any]]]
"""A service function that changes or adds to the record whose id it is given, with the parsed body."""
Deleter = Callable[[AsyncConnection, Principal, int], Awaitable[None]]
Scope = Callable[[AsyncConnection, web.Request], Awaitable[Any]]
"""Loads the record the path names, checking the user may see it."""


def route(method: str, path: str, name: str, summary: str,
          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.RouteDef:
    """A route whose handler maps the services' errors (`endpoint`) and documents itself by `summary`."""
    handler.__doc__ = summary
    handler.__name__ = name.rsplit(".", 1)[-1]
    return web.route(method, path, endpoint(handler), name=name)


def add_route(table: web.RouteTableDef, built: web.RouteDef) -> None:
    """Put a built route into a route table of decorated handlers, in its place among them."""
    table.route(built.method, built.path, **built.kwargs)(built.handler)


def estate_list(path: str, name: str, summary: str, lister: Lister, query: tuple[str, ...] = ()) -> web.RouteDef:
    """GET the estate's records; each allowed query parameter is passed to the lister by name when given."""
    async def handler(request: web.Request) -> web.Response:
        estate = request.match_info["estate"]
        check_estate(principal(request), estate)
        check_query(request, set(query))
        options = {q: request.query[q] for q in query if q in request.query}
        async with engine(request).connect() as conn:
            return reply({"items": await lister(conn, estate, **options)})
    return route("GET", path, name, summary, handler)


def estate_create(path: str, name: str, summary: str, body: type[BaseModel], creator: Creator) -> web.RouteDef:
    """POST a new record into the estate in the path."""
    async def handler(request: web.Request) -> web.Response:
        estate = request.match_info["estate"]
        check_estate(principal(request), estate)
        parsed = await parse_body(request, body)
        async with engine(request).begin() as conn:
            return reply(await creator(conn, principal(request), estate, parsed), 201)
    return route("POST", path, name, summary, handler)


def item_action(path: str, name: str, summary: str, body: type[BaseModel], getter: Getter, what: str,
                action: Action, status: int = 200, method: str = "POST") -> web.RouteDef:
    """Act on the record whose id is in the path (acknowledge, reverse, ...) with the parsed body, in one
    transaction; the record must be in an estate the user may see. Answers what the action returns."""
    async def handler(request: web.Request) -> web.Response:
        parsed = await parse_body(request, body)
        async with engine(request).begin() as conn:
            confine(principal(request), await getter(conn, path_id(request)), what)
            return reply(await action(conn, principal(request), path_id(request), parsed), status)
    return route(method, path, name, summary, handler)


def child_create(path: str, name: str, summary: str, body: type[BaseModel], parent: Getter, what: str,
                 creator: Action) -> web.RouteDef:
    """POST a record that belongs to the one whose id is in the path (a staff member's card, ...)."""
    return item_action(path, name, summary, body, parent, what, creator, status=201)


def scoped_create(path: str, name: str, summary: str, body: type[BaseModel], scope: Scope,
                  creator: Creator) -> web.RouteDef:
    """POST a record under the one the path names, which `scope` loads, answering 404 when the user may not see
    it (a billing unit, a meter point: rules beyond the estate's); `creator` gets what `scope` returned."""
    async def handler(request: web.Request) -> web.Response:
        parsed = await parse_body(request, body)
        async with engine(request).begin() as conn:
            parent = await scope(conn, request)
            return reply(await creator(conn, principal(request), parent, parsed), 201)
    return route("POST", path, name, summary, handler)


def item_get(path: str, name: str, summary: str, getter: Getter, what: str) -> web.RouteDef:
    async def handler(request: web.Request) -> web.Response:
        async with engine(request).connect() as conn:
            return reply(confine(principal(request), await getter(conn, path_id(request)), what))
    return route("GET", path, name, summary, handler)


def item_update(path: str, name: str, summary: str, body: type[BaseModel], getter: Getter, what: str,
                updater: Action) -> web.RouteDef:
    """PATCH the fields given; the record must be in an estate the user may see."""
    return item_action(path, name, summary, body, getter, what, updater, method="PATCH")


def item_delete(path: str, name: str, summary: str, getter: Getter, what: str, deleter: Deleter) -> web.RouteDef:
    async def handler(request: web.Request) -> web.Response:
        async with engine(request).begin() as conn:
            confine(principal(request), await getter(conn, path_id(request)), what)
            await deleter(conn, principal(request), path_id(request))
        return reply({"deleted": True, "id": path_id(request)})
    return route("DELETE", path, name, summary, handler)
