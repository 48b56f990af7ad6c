"""The one permission table: every API route, by name, and the roles it serves.

A route missing from this table stops central at start-up; `tests/auth/test_route_matrix.py` walks every
route with every role against it. Estate confinement is applied inside each handler (central/auth/scope.py).
"""
from __future__ import annotations

from central.auth.roles import ALL_ROLES, Role
from central.registry.permissions import REGISTRY_PERMISSIONS

A, M, C, G, T, P, R = (Role.ADMIN, Role.MANAGER, Role.CASHIER, Role.GUARD, Role.TECHNICIAN, Role.PATROL,
                       Role.RESIDENT)

PUBLIC = frozenset({"health", "openapi", "auth.login"})
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


def _merged(*tables: dict[str, frozenset[Role]]) -> dict[str, frozenset[Role]]:
    merged: dict[str, frozenset[Role]] = {}
    for table in tables:
        overlap = merged.keys() & table.keys()
        if overlap:
            raise RuntimeError(f"routes listed twice in the permission table: {sorted(overlap)}")
        merged.update(table)
    return merged


PERMISSIONS: dict[str, frozenset[Role]] = _merged(SPINE, AUTH, REGISTRY_PERMISSIONS, TRANSFER, METERING)


def roles_for(route_name: str) -> frozenset[Role] | None:
    """The roles a route serves; None when the route is public."""
    if route_name in PUBLIC:
        return None
    return PERMISSIONS[route_name]
