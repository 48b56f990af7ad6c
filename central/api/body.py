"""JSON request bodies validated into pydantic models, with 400s that name the field."""
from __future__ import annotations

from typing import TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from central.api.errors import BadRequest

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


def _nul_at(value: object, path: str = "") -> str | None:
    """Where a JSON value holds U+0000 in a string or key (no field accepts it; PostgreSQL cannot store it)."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where.replace("\x00", "\\u0000")
            if (found := _nul_at(item, where)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_at(item, f"{path}.{index}" if path else str(index))) is not None:
                return found
    return None


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
    if b"\\u0000" in raw and (where := _nul_at(data)) is not None:
        raise BadRequest(f"{where}: contains a NUL character (\\u0000); remove it")
    return parsed
