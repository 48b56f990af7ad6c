"""JSON request bodies validated into pydantic models, with 400s that name the field."""
from __future__ import annotations

from typing import TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from central.api.errors import BadRequest
from central.nul import nul_at

M = TypeVar("M", bound=BaseModel)


async def read_upload(request: web.Request, limit: int) -> bytes:
    """The raw request body (a CSV or XLSX file), read past the API's 1 MiB JSON limit up to `limit` bytes:
    413 beyond it, 400 when empty."""
    data = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(data))
    if not data:
        raise BadRequest("body: send the CSV or XLSX file as the request body")
    return bytes(data)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Read and validate the JSON body; any problem is a 400 naming the field and what was expected."""
    raw = await request.read()
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body: not valid JSON ({exc})") from None
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False)[:10]:
            where = ".".join(str(p) for p in err["loc"]) or "body"
            message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{where}: {message}")
        raise BadRequest("; ".join(problems)) from None
    # After the model, whose own rules name the field better; this catches a model that has none for NUL.
    if b"\\u0000" in raw and (where := nul_at(data)) is not None:
        raise BadRequest(f"{where or 'body'}: contains a NUL character (\\u0000); remove it")
    return parsed
