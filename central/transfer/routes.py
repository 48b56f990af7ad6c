"""HTTP routes of data migration: upload a CSV/XLSX to check or import it, download the same sheets."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from central.api.body import read_upload
from central.api.errors import BadRequest
from central.api.params import parse_flag
from central.auth.scope import check_estate
from central.registry.estates import get_estate
from central.registry.http import check_query, endpoint, engine, principal, reply
from central.transfer.export import export_file
from central.transfer.service import import_file
from central.transfer.tables import MAX_FILE_BYTES, FileProblem

routes = web.RouteTableDef()
_TYPES = {"csv": "text/csv; charset=utf-8",
          "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@routes.post("/estates/{estate}/import", name="transfer.import_file")
@endpoint
async def import_sheet(request: web.Request) -> web.Response:
    """Check (dry_run=true) or import a CSV/XLSX file; all or nothing, with every problem by row and column."""
    who, estate = principal(request), request.match_info["estate"]
    check_estate(who, estate)
    check_query(request, {"sheet", "dry_run", "filename"})
    dry_run = parse_flag("dry_run", request.query.get("dry_run"))
    data = await read_upload(request, MAX_FILE_BYTES)
    try:
        report = await import_file(engine(request), who, estate, data, filename=request.query.get("filename"),
                                   sheet=request.query.get("sheet"), dry_run=dry_run)
    except FileProblem as exc:
        raise BadRequest(f"file: {exc}") from None
    body: dict[str, Any] = report.as_dict()
    return reply(body, 200 if dry_run or report.written else 422)


@routes.get("/estates/{estate}/export", name="transfer.export_file")
@endpoint
async def export_sheet(request: web.Request) -> web.Response:
    """Download one sheet as CSV, or one or every sheet as XLSX, in the columns the importer reads."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"sheet", "format", "lang"})
    fmt, language = request.query.get("format", "xlsx"), request.query.get("lang", "en")
    if fmt not in _TYPES:
        raise BadRequest(f"format: expected csv or xlsx, got {fmt!r}")
    if language not in ("en", "zh"):
        raise BadRequest(f"lang: expected en or zh, got {language!r}")
    sheet = request.query.get("sheet")
    async with engine(request).connect() as conn:
        await get_estate(conn, estate)
        try:
            data = await export_file(conn, estate, sheet=sheet, fmt=fmt, language=language)
        except FileProblem as exc:
            raise BadRequest(str(exc)) from None
    name = f"{estate}-{sheet or 'all'}.{fmt}"
    return web.Response(body=data, headers={"Content-Type": _TYPES[fmt],
                                            "Content-Disposition": f'attachment; filename="{name}"'})
