"""OpenAPI paths of the auth module (merged into the API document by central/api/openapi.py)."""
from __future__ import annotations

from typing import Any

from central.api.openapi_build import ERROR


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(summary: str, op_id: str, ok: str = "200", body: dict | None = None, params: list | None = None,
        public: bool = False, conflict: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "operationId": op_id, "responses": {
        ok: {"description": "Done", **_json({"type": "object"})},
        "400": {"description": "A field is wrong; the message names it", **ERROR},
        "401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"}}}
    if conflict:
        operation["responses"]["409"] = {"description": conflict, **ERROR}
    if body:
        operation["requestBody"] = {"required": True, **_json(body)}
    if params:
        operation["parameters"] = params
    if public:
        operation["security"] = []
    return operation


_STR = {"type": "string"}
_USER_ID = [{"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}}]

PATHS: dict[str, Any] = {
    "/auth/login": {"post": _op("Log in; sets the session cookie and returns the CSRF token", "login", body={
        "type": "object", "required": ["username", "password"],
        "properties": {"username": _STR, "password": _STR}}, public=True)},
    "/auth/logout": {"post": _op("End the browser session", "logout")},
    "/auth/me": {"get": _op("The logged-in user, role and estates", "me")},
    "/auth/password": {"post": _op("Change one's own password", "changePassword", body={
        "type": "object", "required": ["current_password", "new_password"],
        "properties": {"current_password": _STR, "new_password": _STR}})},
    "/auth/tokens": {"post": _op("Create an API token for the caller (shown once)", "createToken", ok="201", body={
        "type": "object", "required": ["name"],
        "properties": {"name": _STR, "days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650}}})},
    "/users": {
        "get": _op("Users visible to the caller", "listUsers"),
        "post": _op("Create a user", "createUser", ok="201", body={
            "type": "object", "required": ["username", "password", "role"], "properties": {
                "username": _STR, "password": _STR,
                "role": {"type": "string", "enum": ["admin", "manager", "cashier", "guard", "technician",
                                                    "patrol", "resident"]},
                "estates": {"type": "array", "items": _STR}, "display_name": _STR,
                "resident_id": {"type": ["integer", "null"]}, "staff_id": {"type": ["integer", "null"]}}},
            conflict="The username is taken; the message says to choose another"),
    },
    "/users/{user_id}": {"patch": _op("Change a user's name, role, estates or active flag", "updateUser",
                                      params=_USER_ID, body={"type": "object", "properties": {
                                          "display_name": _STR, "active": {"type": "boolean"}, "role": _STR,
                                          "estates": {"type": "array", "items": _STR}}})},
    "/audit": {"get": _op("The audit log, newest first", "listAudit", params=[
        {"name": n, "in": "query", "required": False, "schema": _STR}
        for n in ("estate", "entity", "entity_id", "action", "cursor", "limit")])},
}
