"""OpenAPI paths of notify, made from its routes: summaries from the handlers' docstrings."""
from __future__ import annotations

import re
from typing import Any

from central.notify.routes import routes

QUERIES: dict[str, dict[str, str]] = {
    "notify.notifications.list": {
        "status": "queued, sending, sent, failed_permanently or cancelled", "purpose": "e.g. bill_notice",
        "channel": "email or sms", "unit": "Unit id", "cursor": "The next_cursor of the previous page, unchanged",
        "limit": "Page size, 1..1000 (default 100)"},
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_PDF = {"notify.notifications.attachment"}


def _operation(name: str, method: str, path: str, summary: str) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "Done; times are ISO 8601",
                          "content": {"application/json": {"schema": {"type": "object"}}}}
    if name in _PDF:
        ok = {"description": "The PDF", "content": {"application/pdf": {"schema": {"type": "string",
                                                                                   "format": "binary"}}}}
    operation: dict[str, Any] = {
        "summary": summary, "tags": ["notify"],
        "operationId": "".join(p.title() if i else p for i, p in enumerate(re.split(r"[._]", name))),
        "responses": {
            "200": ok, "400": {"description": "A parameter is wrong; the message names it", **_ERROR},
            "401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"},
            "404": {"description": "No such notification, or one the user may not see", **_ERROR}}}
    if method == "POST":
        operation["responses"]["409"] = {"description": "Not in a state that allows this", **_ERROR}
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False}}}}
    if name in _PDF:
        operation["responses"]["503"] = {"description": "The CJK font for PDFs is not installed", **_ERROR}
    parameters = [{"name": p, "in": "path", "required": True,
                   "schema": {"type": "integer"} if p == "id" else {"type": "string"}}
                  for p in re.findall(r"\{(\w+)\}", path)]
    parameters += [{"name": q, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
                   for q, text in QUERIES.get(name, {}).items()]
    if parameters:
        operation["parameters"] = parameters
    return operation


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        name = route.kwargs["name"]
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        summary = (route.handler.__doc__ or name).strip().splitlines()[0]
        paths.setdefault(path, {})[route.method.lower()] = _operation(name, route.method, path, summary)
    return paths


PATHS: dict[str, Any] = _paths()
