"""OpenAPI paths of notify, made from its routes: summaries from the handlers' docstrings."""
from __future__ import annotations

from typing import Any

from central.api.openapi_build import ERROR, PAGE, Module
from central.notify.routes import routes

QUERIES: dict[str, dict[str, str]] = {
    "notify.notifications.list": {
        "status": "queued, sending, sent, failed_permanently or cancelled", "purpose": "e.g. bill_notice",
        "channel": "email or sms", "unit": "Unit id", **PAGE},
}
_PDF = {"notify.notifications.attachment"}


def _extra(name: str, method: str, operation: dict[str, Any]) -> None:
    if method == "POST":  # an action on a notification: no fields
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False}}}}
    if name in _PDF:
        operation["responses"]["200"] = {"description": "The PDF", "content": {
            "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
        operation["responses"]["503"] = {"description": "The CJK font for PDFs is not installed", **ERROR}


PATHS: dict[str, Any] = Module(
    tag="notify", done="Done; times are ISO 8601", bad_request="A parameter is wrong; the message names it",
    not_found="No such notification, or one the user may not see", conflict="Not in a state that allows this",
    conflict_methods=frozenset({"POST"}), queries=QUERIES, extra=_extra).paths(routes)
