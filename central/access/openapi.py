"""OpenAPI paths of the access module, made from its routes: summaries from the handlers, bodies from the models."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from central.access import alarms, cards, doors, groups, passes, remote
from central.access.routes import routes
from central.api.openapi_build import ERROR, PAGE, Module

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
_LOG = {"door": "Door code", "card": "Card number", "holder": "Holder id: r-<resident id> or s-<staff id>",
        "granted": "true or false", "reason": "Decision reason, e.g. lost, wrong_door_group",
        "since": "From this time, inclusive (ISO 8601 with offset)", "until": "Before this time (ISO 8601 with offset)"}
QUERIES: dict[str, dict[str, str]] = {
    "access.doors.list": {"gateway": "Gateway id"},
    "access.remote_opens.list": {"door": "Door code", **PAGE},
    "access.cards.list": {"state": "active, suspended, lost or returned", "card": "Card number",
                          "resident_id": "Holder resident id", "staff_id": "Holder staff id", **PAGE},
    "access.passes.list": PAGE,
    "access.log.list": {**_LOG, **PAGE},
    "access.log.export": _LOG,
    "access.alarms.list": {"state": "open or acknowledged", "kind": "e.g. door.forced",
                           "since": "From this time (ISO 8601 with offset)", "until": "Before this time", **PAGE},
}
STATUS = {"access.doors.open": "202", "access.sync.resync": "202"}


def _extra(name: str, _method: str, operation: dict[str, Any]) -> None:
    if name == "access.log.export":
        operation["responses"]["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
    if name in ("access.doors.open", "access.sync.resync"):
        operation["responses"]["503"] = {"description": "The broker is unreachable; nothing was sent", **ERROR}


PATHS: dict[str, Any] = Module(
    tag="access", done="Done; changes carry the access_version the gateways will reach",
    not_found="No such record, or one in an estate the user may not see",
    conflict="Clashes with the record's state or another record",
    conflict_methods=frozenset({"POST", "PATCH", "DELETE"}),
    status=lambda name, method: STATUS.get(
        name, "201" if method == "POST" and name.endswith((".create", ".issue")) else "200"),
    queries=QUERIES, bodies=BODIES, extra=_extra).paths(routes)
