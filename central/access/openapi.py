"""OpenAPI paths of the access module, made from its routes: summaries from the handlers, bodies from the models."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from central.access import alarms, cards, doors, groups, passes, remote
from central.access.routes import routes

BODIES: dict[str, type[BaseModel]] = {
    "access.doors.create": doors.DoorCreate, "access.doors.update": doors.DoorUpdate,
    "access.doors.open": remote.OpenBody,
    "access.door_groups.create": groups.GroupCreate, "access.door_groups.update": groups.GroupUpdate,
    "access.schedules.create": groups.ScheduleCreate, "access.schedules.update": groups.ScheduleUpdate,
    "access.cards.issue": cards.CardIssue, "access.cards.update": cards.CardUpdate,
    "access.cards.suspend": cards.CardAction, "access.cards.reactivate": cards.CardAction,
    "access.cards.report_lost": cards.CardAction, "access.cards.mark_returned": cards.CardAction,
    "access.cards.replace": cards.CardReplace, "access.passes.create": passes.PassIssue,
    "access.alarms.acknowledge": alarms.Acknowledge, "access.alarms.comment": alarms.CommentBody,
}
_PAGE = {"cursor": "The next_cursor of the previous page, unchanged", "limit": "Page size, 1..1000 (default 100)"}
_LOG = {"door": "Door code", "card": "Card number", "holder": "Holder id: r-<resident id> or s-<staff id>",
        "granted": "true or false", "reason": "Decision reason, e.g. lost, wrong_door_group",
        "since": "From this time, inclusive (ISO 8601 with offset)", "until": "Before this time (ISO 8601 with offset)"}
QUERIES: dict[str, dict[str, str]] = {
    "access.doors.list": {"gateway": "Gateway id"},
    "access.remote_opens.list": {"door": "Door code", **_PAGE},
    "access.cards.list": {"state": "active, suspended, lost or returned", "card": "Card number",
                          "resident_id": "Holder resident id", "staff_id": "Holder staff id", **_PAGE},
    "access.passes.list": _PAGE,
    "access.log.list": {**_LOG, **_PAGE},
    "access.log.export": _LOG,
    "access.alarms.list": {"state": "open or acknowledged", "kind": "e.g. door.forced",
                           "since": "From this time (ISO 8601 with offset)", "until": "Before this time", **_PAGE},
}
STATUS = {"access.doors.open": "202", "access.sync.resync": "202"}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(name: str, method: str, path: str, summary: str) -> dict[str, Any]:
    created = method == "POST" and (name.endswith((".create", ".issue")))
    ok = STATUS.get(name, "201" if created else "200")
    content = ({"text/csv": {"schema": {"type": "string"}}} if name == "access.log.export"
               else {"application/json": {"schema": {"type": "object"}}})
    operation: dict[str, Any] = {
        "summary": summary, "operationId": "".join(p.title() if i else p for i, p in
                                                   enumerate(re.split(r"[._]", name))),
        "tags": ["access"],
        "responses": {
            ok: {"description": "Done; changes carry the access_version the gateways will reach", "content": content},
            "400": {"description": "A field or parameter is wrong; the message names it", **_ERROR},
            "401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"},
            "404": {"description": "No such record, or one in an estate the user may not see", **_ERROR}}}
    if method in ("POST", "PATCH", "DELETE"):
        operation["responses"]["409"] = {"description": "Clashes with the record's state or another record", **_ERROR}
    if name in ("access.doors.open", "access.sync.resync"):
        operation["responses"]["503"] = {"description": "The broker is unreachable; nothing was sent", **_ERROR}
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
        doc = (route.handler.__doc__ or name.replace("access.", "").replace(".", " ").replace("_", " ")).strip()
        paths.setdefault(path, {})[route.method.lower()] = _operation(name, route.method, path, doc.splitlines()[0])
    return paths


PATHS: dict[str, Any] = _paths()
