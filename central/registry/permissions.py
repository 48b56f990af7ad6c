"""The roles each registry route serves, merged into the one table in central/auth/permissions.py.

Estate confinement and "residents see only their own" are applied inside the handlers: a record the user may
not see answers 404, like a missing one.
"""
from __future__ import annotations

from central.auth.roles import Role

A, M, C, G, T, R = Role.ADMIN, Role.MANAGER, Role.CASHIER, Role.GUARD, Role.TECHNICIAN, Role.RESIDENT
OFFICE = frozenset({A, M})
"""Everything in their estates: every write, staff, attendance and performance."""
READ_PLACES = frozenset({A, M, C, G, T})
"""Estates, buildings, units, common areas: needed to say where anything is; no personal data."""
READ_PEOPLE = frozenset({A, M, C, G})
"""Residents, occupancies, vehicles, search: the cashier's desk and the guard's visitor and plate checks."""

REGISTRY_PERMISSIONS: dict[str, frozenset[Role]] = {
    "registry.estates.list": READ_PLACES | {R},
    "registry.estates.create": frozenset({A}),
    "registry.estates.get": READ_PLACES | {R},
    "registry.estates.update": OFFICE,
    "registry.buildings.list": READ_PLACES,
    "registry.buildings.create": OFFICE,
    "registry.buildings.get": READ_PLACES,
    "registry.buildings.update": OFFICE,
    "registry.buildings.delete": OFFICE,
    "registry.units.list": READ_PLACES | {R},
    "registry.units.create": OFFICE,
    "registry.units.get": READ_PLACES | {R},
    "registry.units.occupancies": READ_PEOPLE,
    "registry.units.update": OFFICE,
    "registry.units.delete": OFFICE,
    "registry.parking.list": frozenset({A, M, C}),
    "registry.parking.create": OFFICE,
    "registry.parking.get": frozenset({A, M, C}),
    "registry.parking.update": OFFICE,
    "registry.parking.delete": OFFICE,
    "registry.common_areas.list": READ_PLACES,
    "registry.common_areas.create": OFFICE,
    "registry.common_areas.update": OFFICE,
    "registry.common_areas.delete": OFFICE,
    "registry.residents.list": READ_PEOPLE,
    "registry.residents.create": OFFICE,
    "registry.residents.get": READ_PEOPLE | {R},
    "registry.residents.update": OFFICE,
    "registry.residents.contact": OFFICE | {R},
    "registry.residents.delete": OFFICE,
    "registry.occupancies.list": READ_PEOPLE | {R},
    "registry.occupancies.create": OFFICE,
    "registry.occupancies.move_out": OFFICE,
    "registry.vehicles.list": READ_PEOPLE | {R},
    "registry.vehicles.create": OFFICE,
    "registry.vehicles.get": READ_PEOPLE | {R},
    "registry.vehicles.update": OFFICE,
    "registry.vehicles.delete": OFFICE,
    "registry.search": READ_PEOPLE,
    "registry.staff.list": OFFICE,
    "registry.staff.create": OFFICE,
    "registry.staff.get": OFFICE,
    "registry.staff.update": OFFICE,
    "registry.staff.delete": OFFICE,
    "registry.staff_cards.create": OFFICE,
    "registry.staff_cards.delete": OFFICE,
    "registry.attendance_points.list": OFFICE,
    "registry.attendance_points.create": OFFICE,
    "registry.attendance_points.update": OFFICE,
    "registry.attendance_points.delete": OFFICE,
    "registry.attendance.sheet": OFFICE,
    "registry.attendance.list": OFFICE,
    "registry.attendance.create": OFFICE,
    "registry.attendance.delete": OFFICE,
    "registry.performance.list": OFFICE,
    "registry.performance.create": OFFICE,
    "registry.performance.update": OFFICE,
    "registry.performance.delete": OFFICE,
    # Photos: guards see the face beside each tap at the gate; a resident sees their own.
    "registry.resident_photo.get": OFFICE | {G, R},
    "registry.resident_photo.set": OFFICE,
    "registry.resident_photo.delete": OFFICE,
    "registry.staff_photo.get": OFFICE | {G},
    "registry.staff_photo.set": OFFICE,
    "registry.staff_photo.delete": OFFICE,
}
