"""Builds a module's OpenAPI paths from its aiohttp routes; central/api/openapi.py merges them into the document.

Every route-made operation has the same frame: the summary is the first line of the handler's docstring, the
operationId is the route name in camel case, path parameters come from the path (`id` is an integer), query
parameters and pydantic bodies from tables keyed by route name, and the answers are the success one, 400, 401,
403 and 404, with 409 for the methods that change state. A `Module` says only what its own operations say
differently; `extra` adds what a few operations have beyond the frame (a 503, a file body, a public webhook).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

ERROR: dict[str, Any] = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
"""The content of an answer whose body is an Error."""
PAGE: dict[str, str] = {"cursor": "The next_cursor of the previous page, unchanged",
                        "limit": "Page size, 1..1000 (default 100)"}
"""The query parameters of a list that pages with a cursor."""


def operation_id(name: str) -> str:
    """The route name in camel case: billing.fee_items.create -> billingFeeItemsCreate."""
    return "".join(part.title() if i else part for i, part in enumerate(re.split(r"[._]", name)))


def query_parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """An optional query parameter (a string unless `schema` says otherwise)."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def parameters(path: str, queries: Mapping[str, str]) -> list[dict[str, Any]]:
    """The path's parameters (`id` is an integer, the others strings), then the query parameters."""
    found = [{"name": p, "in": "path", "required": True,
              "schema": {"type": "integer"} if p == "id" else {"type": "string"}}
             for p in re.findall(r"\{(\w+)\}", path)]
    return found + [query_parameter(q, text) for q, text in queries.items()]


@dataclass(frozen=True, kw_only=True)
class Module:
    """What one module's operations say; the rest of each operation is the same for every module."""

    tag: str
    """The OpenAPI tag, also the route names' prefix (registry for registry.units.list)."""
    done: str
    """The description of the success answer."""
    not_found: str
    """The description of 404."""
    conflict: str
    """The description of 409."""
    conflict_methods: frozenset[str] = frozenset({"POST", "PATCH"})
    """The methods that may answer 409."""
    bad_request: str = "A field or parameter is wrong; the message names it"
    """The description of 400."""
    status: Callable[[str, str], str] = lambda name, method: "200"
    """The success status of an operation, from its route name and method."""
    queries: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Query parameters by route name: name -> description."""
    bodies: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    """The JSON body's model by route name."""
    extra: Callable[[str, str, dict[str, Any]], None] | None = None
    """Adds to an operation (route name, method, the operation so far) what only some operations have."""

    def operation(self, name: str, method: str, path: str, summary: str) -> dict[str, Any]:
        """The operation of one route."""
        operation: dict[str, Any] = {
            "summary": summary, "operationId": operation_id(name), "tags": [self.tag],
            "responses": {
                self.status(name, method): {"description": self.done, "content": {
                    "application/json": {"schema": {"type": "object"}}}},
                "400": {"description": self.bad_request, **ERROR},
                "401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"},
                "404": {"description": self.not_found, **ERROR}}}
        if method in self.conflict_methods:
            operation["responses"]["409"] = {"description": self.conflict, **ERROR}
        found = parameters(path, self.queries.get(name, {}))
        if found:
            operation["parameters"] = found
        if name in self.bodies:
            schema = self.bodies[name].model_json_schema()
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        if self.extra is not None:
            self.extra(name, method, operation)
        return operation

    def paths(self, routes: Iterable[web.AbstractRouteDef]) -> dict[str, Any]:
        """The OpenAPI paths of the routes, in route order."""
        paths: dict[str, Any] = {}
        for route in routes:
            assert isinstance(route, web.RouteDef)
            name = route.kwargs["name"]
            path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
            fallback = name.replace(f"{self.tag}.", "").replace(".", " ").replace("_", " ")
            summary = (route.handler.__doc__ or fallback).strip().splitlines()[0]
            paths.setdefault(path, {})[route.method.lower()] = self.operation(name, route.method, path, summary)
        return paths
