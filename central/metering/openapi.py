"""OpenAPI paths of metering, made from its routes: summaries from the handlers, bodies from the pydantic models."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from central.api.openapi_build import ERROR, PAGE, Module
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
_PERIOD = {"month": "YYYY-MM in the estate's time zone", "since": "Period start (ISO 8601 with offset)",
           "until": "Period end, exclusive (ISO 8601 with offset)"}
QUERIES: dict[str, dict[str, str]] = {
    "metering.points.list": {"kind": "water, electricity or gas", "unit": "Unit id", **PAGE},
    "metering.readings.list": {"since": "Taken at or after (ISO 8601 with offset)",
                               "until": "Taken before (ISO 8601 with offset)", **PAGE},
    "metering.consumption.get": _PERIOD,
    "metering.readings.import_file": {"dry_run": "true: check only, write nothing",
                                 "filename": "The file's name, recorded in the audit log"},
    "metering.leaks.list": {"status": "open or closed"},
}
_FILE = {"text/csv": {"schema": {"type": "string"}},
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
             {"schema": {"type": "string", "format": "binary"}}}
_CREATED = {"metering.points.create", "metering.meters.install", "metering.meters.replace",
            "metering.readings.create", "metering.estimates.create"}


def _extra(name: str, _method: str, operation: dict[str, Any]) -> None:
    if name == "metering.readings.import_file":
        operation["responses"]["422"] = {"description": "Problems were found; nothing was written", **ERROR}
        operation["responses"]["413"] = {"description": "The file is over 64 MiB"}
        operation["requestBody"] = {"required": True, "content": _FILE}


PATHS: dict[str, Any] = Module(
    tag="metering", done="Done; register values and quantities are decimal strings, times ISO 8601",
    not_found="No such record, or one the user may not see", conflict="Clashes with what is stored",
    status=lambda name, method: "201" if name in _CREATED else "200",
    queries=QUERIES, bodies=BODIES, extra=_extra).paths(routes)
