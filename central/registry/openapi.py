"""OpenAPI paths of the registry, made from its routes: summaries from the handlers, bodies from the pydantic models."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

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
_PAGE = {"cursor": "The next_cursor of the previous page, unchanged", "limit": "Page size, 1..1000 (default 100)"}
QUERIES: dict[str, dict[str, str]] = {
    "registry.units.list": {"building": "Building code", "status": "occupied, vacant, let or renovating", **_PAGE},
    "registry.residents.list": _PAGE,
    "registry.vehicles.list": _PAGE,
    "registry.parking.list": {"kind": "owned, rented or temporary"},
    "registry.staff.list": {"active": "true or false"},
    "registry.search": {"q": "A name, phone (or its last 4+ digits), unit (3-1201), plate, identity or card number"},
    "registry.attendance.sheet": {"month": "YYYY-MM (required)", "staff": "One staff member's id"},
    "registry.attendance.list": {"month": "YYYY-MM (required)"},
    "registry.performance.list": {"period": "YYYY-MM", "staff": "Staff member id"},
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(name: str, method: str, path: str, summary: str) -> dict[str, Any]:
    created = method == "POST" and not name.endswith("move_out")
    operation: dict[str, Any] = {
        "summary": summary, "operationId": "".join(p.title() if i else p for i, p in
                                                   enumerate(re.split(r"[._]", name))),
        "tags": ["registry"],
        "responses": {
            "201" if created else "200": {"description": "Done; decimals are strings, times ISO 8601",
                                          "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "A field or parameter is wrong; the message names it", **_ERROR},
            "401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"},
            "404": {"description": "No such record, or one in an estate the user may not see", **_ERROR}}}
    if method in ("POST", "PATCH"):
        operation["responses"]["409"] = {"description": "Clashes with an existing record", **_ERROR}
    parameters = [{"name": p, "in": "path", "required": True,
                   "schema": {"type": "integer"} if p == "id" else {"type": "string"}}
                  for p in re.findall(r"\{(\w+)\}", path)]
    parameters += [{"name": q, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
                   for q, text in QUERIES.get(name, {}).items()]
    if parameters:
        operation["parameters"] = parameters
    if name in BODIES:
        schema = BODIES[name].model_json_schema()
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return operation


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        name = route.kwargs["name"]
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        doc = (route.handler.__doc__ or name.replace("registry.", "").replace(".", " ").replace("_", " ")).strip()
        paths.setdefault(path, {})[route.method.lower()] = _operation(name, route.method, path,
                                                                      doc.splitlines()[0])
    return paths


PATHS: dict[str, Any] = _paths()
