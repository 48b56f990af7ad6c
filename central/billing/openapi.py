"""OpenAPI paths of billing, made from its routes: summaries from the handlers, bodies from the pydantic models."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from central.api.openapi_build import ERROR, PAGE, Module
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
QUERIES: dict[str, dict[str, str]] = {
    "billing.runs.list": {"period": "YYYY-MM"},
    "billing.bills.list": {"period": "YYYY-MM", "unit": "Unit id", **PAGE},
    "billing.units.bills": {"period": "YYYY-MM", **PAGE},
    "billing.units.statement": {"from": "First period, YYYY-MM (required)", "to": "Last period, YYYY-MM (required)"},
    "billing.reports.period": {"period": "YYYY-MM (required)", "after": "The next_after of the previous page",
                               "limit": "Units per page, 1..1000 (default 100)"},
    "billing.reports.arrears": {"period": "YYYY-MM (required)"},
    "billing.payments.list": {"since": "Received at or after (ISO 8601 with offset)",
                              "until": "Received before (ISO 8601 with offset)", "unit": "Unit id", **PAGE},
}
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
        "401": {"description": "Missing, stale or wrong signature; nothing is posted", **ERROR},
        "404": {"description": "No such provider is configured", **ERROR},
        "409": {"description": "A replayed nonce, or the payment id with another amount", **ERROR},
        "422": {"description": "Signed, but not a payment that can be posted", **ERROR}}
    operation.setdefault("parameters", []).extend(
        {"name": h, "in": "header", "required": True, "description": text, "schema": {"type": "string"}}
        for h, text in _WEBHOOK_HEADERS.items())
    operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


def _extra(name: str, _method: str, operation: dict[str, Any]) -> None:
    if name in ("billing.runs.preview", "billing.runs.post"):
        operation["responses"]["202"] = {"description": "Started (wait false): watch GET /bill-runs/{id}"}
    if name == WEBHOOK:
        _webhook(operation)


PATHS: dict[str, Any] = Module(
    tag="billing", done="Done; amounts and quantities are decimal strings, times ISO 8601",
    not_found="No such record, or one the user may not see", conflict="Clashes with what is stored",
    status=lambda name, method: "201" if name in _CREATED else "200",
    queries=QUERIES, bodies=BODIES, extra=_extra).paths(routes)
