"""The roles each billing route serves, merged into the one table in central/auth/permissions.py.

Admins and managers do everything in their estates. Cashiers take payments and print receipts, read bills,
statements and arrears, preview runs (not post them) and quote temporary parking; refunds, discounts and
corrections need a manager. Residents read their own units' bills, statements and receipts (handlers confine
them). The provider webhook is public: its signature is its authentication (PUBLIC in permissions.py).
"""
from __future__ import annotations

from central.auth.roles import Role

A, M, C, R = Role.ADMIN, Role.MANAGER, Role.CASHIER, Role.RESIDENT
OFFICE = frozenset({A, M})
DESK = frozenset({A, M, C})
OWN = frozenset({A, M, C, R})

BILLING: dict[str, frozenset[Role]] = {
    "billing.fee_items.list": OFFICE,
    "billing.fee_items.create": OFFICE,
    "billing.fee_items.update": OFFICE,
    "billing.rules.list": OFFICE,
    "billing.rules.create": OFFICE,
    "billing.rules.update": OFFICE,
    "billing.assignments.list": OFFICE,
    "billing.assignments.set": OFFICE,
    "billing.policy.get": DESK,
    "billing.policy.update": OFFICE,
    "billing.runs.preview": DESK,
    "billing.runs.post": OFFICE,
    "billing.runs.list": DESK,
    "billing.runs.get": DESK,
    "billing.bills.list": DESK,
    "billing.bills.get": OWN,
    "billing.units.bills": OWN,
    "billing.units.statement": OWN,
    "billing.charges.create": OFFICE,
    "billing.parking.quote": DESK,
    "billing.payments.create": DESK,
    "billing.payments.list": DESK,
    "billing.payments.get": OWN,
    "billing.refunds.create": OFFICE,
    "billing.discounts.create": OFFICE,
    "billing.postings.reverse": OFFICE,
    "billing.late_fees.assess": OFFICE,
    "billing.reports.period": DESK,
    "billing.reports.arrears": DESK,
}
WEBHOOK = "billing.webhook"
