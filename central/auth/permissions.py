"""The one permission table: every API route, by name, and the roles it serves.

A route missing from this table stops central at start-up; `tests/auth/test_route_matrix.py` walks every
route with every role against it. Estate confinement is applied inside each handler (central/auth/scope.py).
"""
from __future__ import annotations

from central.auth.roles import ALL_ROLES, Role
from central.billing.permissions import BILLING
from central.registry.permissions import REGISTRY_PERMISSIONS

A, M, C, G, T, P, R = (Role.ADMIN, Role.MANAGER, Role.CASHIER, Role.GUARD, Role.TECHNICIAN, Role.PATROL,
                       Role.RESIDENT)

PUBLIC = frozenset({"health", "openapi", "auth.login",
                    "billing.webhook"})  # payment providers have no account: the notification's signature is checked
"""Routes anyone may call, logged in or not."""

SPINE = {
    "events.list": frozenset({A, M, G}),
    "gateways.list": frozenset({A, M, G}),
    "dead_letters.list": frozenset({A}),
    "live.stream": frozenset({A, M, G}),
}

AUTH = {
    "auth.logout": ALL_ROLES,
    "auth.me": ALL_ROLES,
    "auth.password": ALL_ROLES,
    "auth.tokens.create": ALL_ROLES,
    "users.list": frozenset({A, M}),
    "users.create": frozenset({A, M}),
    "users.update": frozenset({A, M}),
    "audit.list": frozenset({A, M}),
}

TRANSFER = {
    "transfer.import_file": frozenset({A, M}),
    "transfer.export_file": frozenset({A, M}),
}

METERING = {
    "metering.points.list": frozenset({A, M, C, T, R}),
    "metering.points.create": frozenset({A, M}),
    "metering.points.get": frozenset({A, M, C, T, R}),
    "metering.points.update": frozenset({A, M}),
    "metering.meters.list": frozenset({A, M, C, T, R}),
    "metering.meters.install": frozenset({A, M}),
    "metering.meters.replace": frozenset({A, M}),
    "metering.meters.update": frozenset({A, M}),
    "metering.readings.list": frozenset({A, M, C}),
    "metering.readings.create": frozenset({A, M, T}),
    "metering.readings.update": frozenset({A, M}),
    "metering.readings.import_file": frozenset({A, M}),
    "metering.consumption.get": frozenset({A, M, C, R}),
    "metering.estimates.create": frozenset({A, M}),
    "metering.leaks.check": frozenset({A, M}),
    "metering.leaks.list": frozenset({A, M}),
    "metering.leaks.update": frozenset({A, M}),
}
"""Cashiers read meters, readings and consumption (billing); technicians find points and meters and enter
readings by hand; residents read their own units' points, meters and consumption (handlers confine them)."""

_ACCESS_OFFICE, _ACCESS_DESK = frozenset({A, M}), frozenset({A, M, G})
ACCESS = {
    "access.doors.list": _ACCESS_DESK,
    "access.doors.create": _ACCESS_OFFICE,
    "access.doors.get": _ACCESS_DESK,
    "access.doors.update": _ACCESS_OFFICE,
    "access.doors.delete": _ACCESS_OFFICE,
    "access.doors.open": _ACCESS_DESK,
    "access.remote_opens.list": _ACCESS_DESK,
    "access.remote_opens.get": _ACCESS_DESK,
    "access.door_groups.list": _ACCESS_DESK,
    "access.door_groups.create": _ACCESS_OFFICE,
    "access.door_groups.get": _ACCESS_DESK,
    "access.door_groups.update": _ACCESS_OFFICE,
    "access.door_groups.delete": _ACCESS_OFFICE,
    "access.schedules.list": _ACCESS_DESK,
    "access.schedules.create": _ACCESS_OFFICE,
    "access.schedules.get": _ACCESS_DESK,
    "access.schedules.update": _ACCESS_OFFICE,
    "access.schedules.delete": _ACCESS_OFFICE,
    "access.cards.list": _ACCESS_DESK | {R},
    "access.cards.issue": _ACCESS_OFFICE,
    "access.cards.get": _ACCESS_DESK | {R},
    "access.cards.update": _ACCESS_OFFICE,
    "access.cards.history": _ACCESS_DESK | {R},
    "access.cards.suspend": _ACCESS_OFFICE,
    "access.cards.reactivate": _ACCESS_OFFICE,
    "access.cards.report_lost": _ACCESS_DESK | {R},
    "access.cards.mark_returned": _ACCESS_OFFICE,
    "access.cards.replace": _ACCESS_OFFICE,
    "access.passes.list": _ACCESS_DESK | {R},
    "access.passes.create": _ACCESS_DESK | {R},
    "access.pass_key.get": _ACCESS_OFFICE,
    "access.log.list": _ACCESS_DESK,
    "access.log.export": _ACCESS_DESK,
    "access.alarms.list": _ACCESS_DESK,
    "access.alarms.get": _ACCESS_DESK,
    "access.alarms.acknowledge": _ACCESS_DESK,
    "access.alarms.comment": _ACCESS_DESK,
    "access.sync.status": _ACCESS_OFFICE,
    "access.sync.resync": _ACCESS_OFFICE,
}
"""Managers run access; guards read doors, groups and schedules, find cards to report one lost, open doors,
watch the log and alarms and issue visitor passes; residents see and report lost their own cards and issue
passes for their building's door groups (handlers confine them). Cashiers, technicians and patrol: none."""


NOTIFY = {
    "notify.notifications.list": frozenset({A, M, C, R}),
    "notify.notifications.get": frozenset({A, M, C, R}),
    "notify.notifications.attachment": frozenset({A, M, C, R}),
    "notify.notifications.requeue": frozenset({A, M}),
    "notify.notifications.cancel": frozenset({A, M}),
}
"""Managers run notices (re-queue a failed one, cancel one not yet sent); cashiers read them at the desk;
residents read their own units' notices and download the PDFs (handlers confine them)."""


def _merged(*tables: dict[str, frozenset[Role]]) -> dict[str, frozenset[Role]]:
    merged: dict[str, frozenset[Role]] = {}
    for table in tables:
        overlap = merged.keys() & table.keys()
        if overlap:
            raise RuntimeError(f"routes listed twice in the permission table: {sorted(overlap)}")
        merged.update(table)
    return merged


PERMISSIONS: dict[str, frozenset[Role]] = _merged(SPINE, AUTH, REGISTRY_PERMISSIONS, TRANSFER, METERING,
                                                  ACCESS, BILLING, NOTIFY)


def roles_for(route_name: str) -> frozenset[Role] | None:
    """The roles a route serves; None when the route is public."""
    if route_name in PUBLIC:
        return None
    return PERMISSIONS[route_name]
