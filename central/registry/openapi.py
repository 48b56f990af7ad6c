"""OpenAPI paths of the registry, made from its routes: summaries from the handlers, bodies from the pydantic models."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from central.api.openapi_build import ERROR, PAGE, Module
from central.registry import attendance, estates, performance, property, residents, staff, units, vehicles
from central.registry.routes import routes

BODIES: dict[str, type[BaseModel]] = {
    "registry.estates.create": estates.EstateCreate, "registry.estates.update": estates.EstateUpdate,
    "registry.buildings.create": estates.BuildingCreate, "registry.buildings.update": estates.BuildingUpdate,
    "registry.units.create": units.UnitCreate, "registry.units.update": units.UnitUpdate,
    "registry.parking.create": property.ParkingCreate, "registry.parking.update": property.ParkingUpdate,
    "registry.common_areas.create": property.CommonAreaCreate,
    "registry.common_areas.update": property.CommonAreaUpdate,
    "registry.residents.create": residents.ResidentCreate, "registry.residents.update": residents.ResidentUpdate,
    "registry.residents.contact": residents.ContactUpdate,
    "registry.occupancies.create": residents.OccupancyCreate, "registry.occupancies.move_out": residents.MoveOut,
    "registry.vehicles.create": vehicles.VehicleCreate, "registry.vehicles.update": vehicles.VehicleUpdate,
    "registry.staff.create": staff.StaffCreate, "registry.staff.update": staff.StaffUpdate,
    "registry.staff_cards.create": staff.CardCreate,
    "registry.attendance_points.create": attendance.PointCreate,
    "registry.attendance_points.update": attendance.PointUpdate,
    "registry.attendance.create": attendance.ManualEntry,
    "registry.performance.create": performance.PerformanceCreate,
    "registry.performance.update": performance.PerformanceUpdate,
}
QUERIES: dict[str, dict[str, str]] = {
    "registry.units.list": {"building": "Building code", "status": "occupied, vacant, let or renovating", **PAGE},
    "registry.residents.list": PAGE,
    "registry.vehicles.list": PAGE,
    "registry.parking.list": {"kind": "owned, rented or temporary"},
    "registry.staff.list": {"active": "true or false"},
    "registry.search": {"q": "A name, phone (or its last 4+ digits), unit (3-1201), plate, identity or card number"},
    "registry.attendance.sheet": {"month": "YYYY-MM (required)", "staff": "One staff member's id"},
    "registry.attendance.list": {"month": "YYYY-MM (required)"},
    "registry.performance.list": {"period": "YYYY-MM", "staff": "Staff member id"},
}
_IMAGE = {t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "image/png")}


def _extra(name: str, _method: str, operation: dict[str, Any]) -> None:
    if name.endswith("_photo.get"):
        operation["responses"]["200"] = {"description": "The image, with its ETag", "content": _IMAGE}
        operation["responses"]["304"] = {"description": "Unchanged since the ETag sent in If-None-Match"}
    if name.endswith("_photo.set"):
        operation["requestBody"] = {"required": True, "content": _IMAGE}
        operation["responses"]["413"] = {"description": "Over 512 KiB", **ERROR}
        operation["responses"]["415"] = {"description": "Not image/jpeg or image/png", **ERROR}


PATHS: dict[str, Any] = Module(
    tag="registry", done="Done; decimals are strings, times ISO 8601",
    not_found="No such record, or one in an estate the user may not see", conflict="Clashes with an existing record",
    status=lambda name, method: "201" if method == "POST" and not name.endswith("move_out") else "200",
    queries=QUERIES, bodies=BODIES, extra=_extra).paths(routes)
