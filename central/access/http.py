"""Route builders for changes the gateways must hear of: the change commits, then the sync publishes it.

They mirror central/registry/crud.py's builders (estate confinement, 404 for another estate's record,
the summary as the handler's docstring) and add one step after the transaction: the service's answer carries
`access_version` and `access_changed`, and a change is handed to the AccessSync. Publishing after commit,
not inside the transaction, means a gateway never hears of a change that was rolled back.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from central.access.sync import SYNC, AccessSync
from central.api.body import parse_body
from central.auth.scope import check_estate
from central.registry.crud import Getter, route
from central.registry.http import confine, engine, path_id, principal, reply

Service = Callable[..., Awaitable[dict[str, Any]]]


def sync_of(request: web.Request) -> AccessSync:
    """The app's AccessSync."""
    return request.config_dict[SYNC]


def announce(request: web.Request, result: dict[str, Any]) -> dict[str, Any]:
    """Hand a committed change to the sync (call after the transaction); returns the result."""
    if result.get("access_changed"):
        sync_of(request).changed(result["estate"], result["access_version"])
    return result


def estate_change(path: str, name: str, summary: str, body: type[BaseModel], service: Service) -> web.RouteDef:
    """POST a new record into the estate in the path; 201 with the record."""
    async def handler(request: web.Request) -> web.Response:
        estate = request.match_info["estate"]
        check_estate(principal(request), estate)
        parsed = await parse_body(request, body)
        async with engine(request).begin() as conn:
            result = await service(conn, principal(request), estate, parsed)
        return reply(announce(request, result), 201)
    return route("POST", path, name, summary, handler)


def item_change(method: str, path: str, name: str, summary: str, getter: Getter, what: str, service: Service,
                body: type[BaseModel] | None = None) -> web.RouteDef:
    """Change the record whose id is in the path (with the parsed body when there is one)."""
    async def handler(request: web.Request) -> web.Response:
        parsed = await parse_body(request, body) if body is not None else None
        async with engine(request).begin() as conn:
            confine(principal(request), await getter(conn, path_id(request)), what)
            args = (parsed,) if body is not None else ()
            result = await service(conn, principal(request), path_id(request), *args)
        return reply(announce(request, result))
    return route(method, path, name, summary, handler)
