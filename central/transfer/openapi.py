"""OpenAPI paths of data migration (merged into the API document by central/api/openapi.py)."""
from __future__ import annotations

from typing import Any

from central.api.openapi_build import ERROR
from central.transfer.sheets import SHEETS

_ESTATE = {"name": "estate", "in": "path", "required": True, "schema": {"type": "string"}}
_SHEET = {"name": "sheet", "in": "query", "required": False, "schema": {"type": "string", "enum": list(SHEETS)},
          "description": "Which sheet; a CSV is recognised by its headers and an XLSX by its worksheet titles"}
_REPORT = {"content": {"application/json": {"schema": {"type": "object", "properties": {
    "dry_run": {"type": "boolean"}, "written": {"type": "boolean"}, "sheets": {"type": "object"},
    "created": {"type": "object"}, "updated": {"type": "object"}, "unchanged": {"type": "boolean"},
    "problem_count": {"type": "integer"}, "sha256": {"type": "string"},
    "problems": {"type": "array", "items": {"type": "object", "properties": {
        "sheet": {"type": "string"}, "row": {"type": "integer"}, "column": {"type": ["string", "null"]},
        "cell": {"type": ["string", "null"]}, "message": {"type": "string"}}}}}}}}}
_DENIED = {"401": {"description": "Not logged in"}, "403": {"description": "The role may not do this"},
           "404": {"description": "No such estate, or one the user may not see", **ERROR}}

PATHS: dict[str, Any] = {
    "/estates/{estate}/import": {"post": {
        "summary": "Check (dry_run=true) or import a CSV or XLSX file: all or nothing, problems by row and column",
        "operationId": "importSheet", "tags": ["transfer"],
        "parameters": [_ESTATE, _SHEET,
                       {"name": "dry_run", "in": "query", "required": False, "schema": {"type": "boolean"}},
                       {"name": "filename", "in": "query", "required": False, "schema": {"type": "string"},
                        "description": "The file's name, recorded in the audit log"}],
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {"200": {"description": "Checked (dry run) or written", **_REPORT},
                      "400": {"description": "The file cannot be read as a table", **ERROR},
                      "413": {"description": "The file is over 64 MiB"},
                      "422": {"description": "Problems were found; nothing was written", **_REPORT}, **_DENIED}}},
    "/estates/{estate}/export": {"get": {
        "summary": "Download the sheets the importer reads (CSV: one sheet; XLSX: one or all)",
        "operationId": "exportSheet", "tags": ["transfer"],
        "parameters": [_ESTATE, _SHEET,
                       {"name": "format", "in": "query", "required": False,
                        "schema": {"type": "string", "enum": ["xlsx", "csv"]}},
                       {"name": "lang", "in": "query", "required": False,
                        "schema": {"type": "string", "enum": ["en", "zh"]}, "description": "Header language"}],
        "responses": {"200": {"description": "The file", "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                {"schema": {"type": "string", "format": "binary"}}}},
            "400": {"description": "A parameter is wrong", **ERROR}, **_DENIED}}},
}
