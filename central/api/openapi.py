"""The OpenAPI 3.1 document of the API, served at /api/v1/openapi.json."""
from __future__ import annotations

import copy
import functools
from typing import Any

from aiohttp import web

from central.api.openapi_build import ERROR, query_parameter

routes = web.RouteTableDef()


def _ok(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


_ERROR = {"description": "A parameter is wrong; the message names it", **ERROR}
_TIME = {"type": "string", "format": "date-time"}
_PAGE = [query_parameter("limit", "Page size", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
         query_parameter("cursor", "The next_cursor of the previous page, unchanged")]

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "EstateLink central API", "version": "1"},
    "servers": [{"url": "/api/v1"}],
    "paths": {
        "/health": {"get": {"summary": "Database and broker status", "operationId": "health", "responses": {
            "200": _ok("Health", "Everything is up"), "503": _ok("Health", "A part is down; the body says which")}}},
        "/events": {"get": {
            "summary": "Stored events, filtered, with cursor pagination", "operationId": "listEvents",
            "parameters": [
                query_parameter("estate", "Estate id"), query_parameter("gateway", "Gateway id"),
                query_parameter("kind", "Event kind, e.g. card.read"), query_parameter("device", "Device id"),
                query_parameter("since", "Gateway receive time, inclusive (ISO 8601 with offset)", _TIME),
                query_parameter("until", "Gateway receive time, exclusive (ISO 8601 with offset)", _TIME),
                query_parameter("order", "Storage order",
                                {"type": "string", "enum": ["asc", "desc"], "default": "asc"}),
                *_PAGE],
            "responses": {"200": _ok("EventPage", "A page of events"), "400": _ERROR}}},
        "/estates/{estate}/live": {"get": {
            "summary": "Server-sent events: taps, decisions and door events (`event`), alarms (`alarm`), and `lost` "
                       "when the reader fell behind", "operationId": "liveStream",
            "parameters": [{"name": "estate", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "text/event-stream; each data line is an event as GET /events "
                                                 "shows it", "content": {"text/event-stream": {
                                                     "schema": {"type": "string"}}}}}}},
        "/gateways": {"get": {
            "summary": "Gateways with their last state and acked sequence", "operationId": "listGateways",
            "parameters": [query_parameter("estate", "Estate id")],
            "responses": {"200": _ok("GatewayList", "Gateways")}}},
        "/dead-letters": {"get": {
            "summary": "Uplink payloads that ingest refused, newest first", "operationId": "listDeadLetters",
            "parameters": _PAGE, "responses": {"200": _ok("DeadLetterPage", "A page"), "400": _ERROR}}},
        "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                  "responses": {"200": {"description": "OpenAPI 3.1 document"}}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error", "message"],
                  "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
        "Health": {"type": "object", "required": ["status", "database", "broker"], "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]}, "database": {"type": "string"},
            "broker": {"type": "string"}, "ingest": {"type": "object"}}},
        "Event": {"type": "object", "required": ["id", "estate", "gateway", "seq", "device", "kind",
                                                 "received_at", "stored_at", "data"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "estate": {"type": "string"},
            "gateway": {"type": "string"}, "seq": {"type": "integer", "minimum": 1},
            "device": {"type": "string"}, "kind": {"type": "string"},
            "device_time": {"type": ["string", "null"], "format": "date-time"},
            "received_at": _TIME, "stored_at": _TIME, "data": {"type": "object"}}},
        "EventPage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "next_cursor": {"type": ["string", "null"]}}},
        "Gateway": {"type": "object", "properties": {
            "estate": {"type": "string"}, "gateway": {"type": "string"}, "status": {"type": "string"},
            "acked_seq": {"type": "integer"}, "state": {"type": ["object", "null"]},
            "state_at": {"type": ["string", "null"], "format": "date-time"}}},
        "GatewayList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Gateway"}}}},
        "DeadLetter": {"type": "object", "properties": {
            "id": {"type": "integer"}, "received_at": _TIME, "topic": {"type": "string"},
            "estate": {"type": ["string", "null"]}, "gateway": {"type": ["string", "null"]},
            "seq": {"type": ["integer", "null"]}, "reason": {"type": "string"},
            "payload_size": {"type": "integer"}, "payload_preview": {"type": "string"}}},
        "DeadLetterPage": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}},
            "next_cursor": {"type": ["string", "null"]}}},
    }},
}


def _module_paths() -> dict[str, Any]:
    from central.access.openapi import PATHS as ACCESS_PATHS
    from central.auth.openapi import PATHS as AUTH_PATHS
    from central.billing.openapi import PATHS as BILLING_PATHS

    from central.metering.openapi import PATHS as METERING_PATHS
    from central.notify.openapi import PATHS as NOTIFY_PATHS
    from central.registry.openapi import PATHS as REGISTRY_PATHS
    from central.transfer.openapi import PATHS as TRANSFER_PATHS

    return {**AUTH_PATHS, **REGISTRY_PATHS, **TRANSFER_PATHS, **METERING_PATHS, **ACCESS_PATHS, **BILLING_PATHS,
            **NOTIFY_PATHS}


@functools.cache
def document() -> dict[str, Any]:
    """The whole description, built on first use: the modules' paths import their routes, which import the API
    package, so building it at import time would be circular."""
    built = copy.deepcopy(DOCUMENT)
    built["paths"].update(_module_paths())
    built["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API token from POST /auth/tokens"},
        "session": {"type": "apiKey", "in": "cookie", "name": "estatelink_session",
                    "description": "Browser session from POST /auth/login; unsafe methods need X-CSRF-Token"},
    }
    built["security"] = [{"bearer": []}, {"session": []}]
    for public in ("/health", "/openapi.json"):
        built["paths"][public]["get"]["security"] = []
    return built


@routes.get("/openapi.json", name="openapi")
async def openapi(_request: web.Request) -> web.Response:
    """The API description."""
    return web.json_response(document())
