"""OpenAPI paths of metering, made from its routes: summaries from the handlers, bodies from the pydantic models."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from central.metering import alerts, meters, points, readings
from central.metering.routes import PeriodBody, routes

BODIES: dict[str, type[BaseModel]] = {
    "metering.points.create": points.PointCreate, "metering.points.update": points.PointUpdate,
    "metering.meters.install": meters.MeterInstall, "metering.meters.replace": meters.MeterReplace,
    "metering.meters.update": meters.MeterUpdate,
    "metering.readings.create": readings.ManualReading, "metering.readings.update": readings.ReadingUpdate,
    "metering.estimates.create": PeriodBody,
    "metering.leaks.check": alerts.LeakCheckRequest, "metering.leaks.update": alerts.AlertUpdate,
}
_PAGE = {"cursor": "The next_cursor of the previous page, unchanged", "limit": "Page size, 1..1000 (default 100)"}
_PERIOD = {"month": "YYYY-MM in the estate's time zone", "since": "Period start (ISO 8601 with offset)",
           "until": "Period end, exclusive (ISO 8601 with offset)"}
QUERIES: dict[str, dict[str, str]] = {
    "metering.points.list": {"kind": "water, electricity or gas", "unit": "Unit id", **_PAGE},
    "metering.readings.list": {"since": "Taken at or after (ISO 8601 with offset)",
                               "until": "Taken before (ISO 8601 with offset)", **_PAGE},
    "metering.consumption.get": _PERIOD,
    "metering.readings.import_file": {"dry_run": "true: check only, write nothing",
                                 "filename": "The file's name, recorded in the audit log"},
    "metering.leaks.list": {"status": "open or closed"},
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_FILE = {"text/csv": {"schema": {"type": "string"}},
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
             {"schema": {"type": "string", "format": "binary"}}}
_CREATED = {"metering.points.create", "metering.meters.install", "metering.meters.replace",
            "metering.readings.create", "metering.estimates.create"}


def _operation(name: str, method: str, path: str, summary: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "operationId": "".join(p.title() if i else p for i, p in
                                                   enumerate(re.split(r"[._]", name))),
        "tags": ["metering"],
        "responses": {
            "201" if name in _CREATED else "200": {
                "description": "Done; register values and quantities are decimal strings, times ISO 8601",
                "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "A field or parameter is wrong; the message names it", **_ERROR},
            "401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"},
            "404": {"description": "No such record, or one the user may not see", **_ERROR}}}
    if method in ("POST", "PATCH"):
        operation["responses"]["409"] = {"description": "Clashes with what is stored", **_ERROR}
    if name == "metering.readings.import_file":
        operation["responses"]["422"] = {"description": "Problems were found; nothing was written", **_ERROR}
        operation["responses"]["413"] = {"description": "The file is over 64 MiB"}
        operation["requestBody"] = {"required": True, "content": _FILE}
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
        doc = (route.handler.__doc__ or name.replace("metering.", "").replace(".", " ")).strip()
        paths.setdefault(path, {})[route.method.lower()] = _operation(name, route.method, path, doc.splitlines()[0])
    return paths


PATHS: dict[str, Any] = _paths()
