"""OpenAPI paths of billing, made from its routes: summaries from the handlers, bodies from the pydantic models."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from central.billing import cashier, charges, items
from central.billing.permissions import WEBHOOK
from central.billing.routes import RunBody, routes
from central.billing.routes_ledger import AssessBody

BODIES: dict[str, type[BaseModel]] = {
    "billing.fee_items.create": items.ItemCreate, "billing.fee_items.update": items.ItemUpdate,
    "billing.rules.create": items.RuleCreate, "billing.rules.update": items.RuleUpdate,
    "billing.assignments.set": items.AssignmentsSet, "billing.policy.update": items.PolicyUpdate,
    "billing.runs.preview": RunBody, "billing.runs.post": RunBody,
    "billing.charges.create": charges.ChargeBody, "billing.parking.quote": charges.StayBody,
    "billing.payments.create": cashier.PaymentBody, "billing.refunds.create": cashier.RefundBody,
    "billing.discounts.create": cashier.DiscountBody, "billing.postings.reverse": cashier.ReversalBody,
    "billing.late_fees.assess": AssessBody,
}
_PAGE = {"cursor": "The next_cursor of the previous page, unchanged", "limit": "Page size, 1..1000 (default 100)"}
QUERIES: dict[str, dict[str, str]] = {
    "billing.runs.list": {"period": "YYYY-MM"},
    "billing.bills.list": {"period": "YYYY-MM", "unit": "Unit id", **_PAGE},
    "billing.units.bills": {"period": "YYYY-MM", **_PAGE},
    "billing.units.statement": {"from": "First period, YYYY-MM (required)", "to": "Last period, YYYY-MM (required)"},
    "billing.reports.period": {"period": "YYYY-MM (required)", "after": "The next_after of the previous page",
                               "limit": "Units per page, 1..1000 (default 100)"},
    "billing.reports.arrears": {"period": "YYYY-MM (required)"},
    "billing.payments.list": {"since": "Received at or after (ISO 8601 with offset)",
                              "until": "Received before (ISO 8601 with offset)", "unit": "Unit id", **_PAGE},
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_CREATED = {"billing.fee_items.create", "billing.rules.create", "billing.charges.create", "billing.payments.create",
            "billing.refunds.create", "billing.discounts.create", "billing.postings.reverse",
            "billing.runs.preview", "billing.runs.post"}
_WEBHOOK_HEADERS = {"X-Sim-Timestamp": "Unix seconds when the provider signed", "X-Sim-Nonce": "Once only",
                    "X-Sim-Signature": "v1= hex HMAC-SHA256 of \"{timestamp}.{nonce}.\" + body"}


def _webhook(operation: dict[str, Any]) -> None:
    operation["security"] = []
    operation["responses"] = {
        "200": {"description": "Posted, or a duplicate of a payment posted before (status says which)",
                "content": {"application/json": {"schema": {"type": "object"}}}},
        "401": {"description": "Missing, stale or wrong signature; nothing is posted", **_ERROR},
        "404": {"description": "No such provider is configured", **_ERROR},
        "409": {"description": "A replayed nonce, or the payment id with another amount", **_ERROR},
        "422": {"description": "Signed, but not a payment that can be posted", **_ERROR}}
    operation["parameters"] += [{"name": h, "in": "header", "required": True, "description": text,
                                 "schema": {"type": "string"}} for h, text in _WEBHOOK_HEADERS.items()]
    operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


def _operation(name: str, method: str, path: str, summary: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "operationId": "".join(p.title() if i else p for i, p in
                                                   enumerate(re.split(r"[._]", name))),
        "tags": ["billing"],
        "responses": {
            "201" if name in _CREATED else "200": {
                "description": "Done; amounts and quantities are decimal strings, times ISO 8601",
                "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "A field or parameter is wrong; the message names it", **_ERROR},
            "401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"},
            "404": {"description": "No such record, or one the user may not see", **_ERROR}}}
    if method in ("POST", "PATCH"):
        operation["responses"]["409"] = {"description": "Clashes with what is stored", **_ERROR}
    if name in ("billing.runs.preview", "billing.runs.post"):
        operation["responses"]["202"] = {"description": "Started (wait false): watch GET /bill-runs/{id}"}
    operation["parameters"] = [{"name": p, "in": "path", "required": True,
                                "schema": {"type": "integer"} if p == "id" else {"type": "string"}}
                               for p in re.findall(r"\{(\w+)\}", path)]
    operation["parameters"] += [{"name": q, "in": "query", "required": False, "description": text,
                                 "schema": {"type": "string"}} for q, text in QUERIES.get(name, {}).items()]
    if name in BODIES:
        schema = BODIES[name].model_json_schema()
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if name == WEBHOOK:
        _webhook(operation)
    if not operation["parameters"]:
        del operation["parameters"]
    return operation


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        name = route.kwargs["name"]
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        doc = (route.handler.__doc__ or name.replace("billing.", "").replace(".", " ")).strip()
        paths.setdefault(path, {})[route.method.lower()] = _operation(name, route.method, path, doc.splitlines()[0])
    return paths


PATHS: dict[str, Any] = _paths()
