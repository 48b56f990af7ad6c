"""HTTP routes for holder photos: PUT the image's bytes, GET them back (cached privately, with an ETag), DELETE.

`/residents/{id}/photo` and `/staff/{id}/photo`. The body of a PUT is the image itself (Content-Type
image/jpeg or image/png, at most 512 KiB), not JSON: 415 for another type, 413 when too large, 400 when the
bytes are not a whole image of the declared type.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.errors import json_error
from central.registry import images, photos
from central.registry.http import check_own_resident, confine, endpoint, engine, path_id, principal, reply
from central.registry.photos import HolderKind

CACHE = "private, max-age=300"
"""Guards see the same faces all shift; five minutes, then the browser asks again (If-None-Match: 304)."""
_WHAT = {"resident": "resident", "staff": "staff member"}


def _refused(exc: images.PhotoError, size: int = 0) -> web.HTTPException:
    """The answer for a body that cannot be a photo: 415, 413 or 400, with the reason."""
    if isinstance(exc, images.UnsupportedType):
        return json_error(web.HTTPUnsupportedMediaType, "unsupported_media_type", exc.message)
    if isinstance(exc, images.TooLarge):
        return web.HTTPRequestEntityTooLarge(
            max_size=images.MAX_BYTES, actual_size=size, content_type="application/json",
            text=orjson.dumps({"error": "too_large", "message": exc.message}).decode())
    return json_error(web.HTTPBadRequest, "not_an_image", exc.message)


async def _body(request: web.Request) -> images.Image:
    """The request's image: the type checked before reading, and no more read than one byte past the limit."""
    size = request.content_length or 0
    try:
        declared = images.declared_type(request.headers.get("Content-Type"))
        images.check_size(size)
        data = bytearray()
        while len(data) <= images.MAX_BYTES and (chunk := await request.content.read(images.MAX_BYTES + 1 - len(data))):
            data += chunk
        size = len(data)
        images.check_size(size, more=True)  # a chunked body: read up to one byte past the limit
        # A PNG is inflated to be checked: up to 128 MiB for the largest size allowed, so off the event loop.
        return await asyncio.to_thread(images.check_photo, bytes(data), declared)
    except images.PhotoError as exc:
        raise _refused(exc, size) from None


async def _holder(conn: AsyncConnection, request: web.Request, kind: HolderKind) -> int:
    """The holder's id from the path, if the user may see them (a resident account: only themselves)."""
    who, holder_id = principal(request), path_id(request)
    if kind == "resident":
        check_own_resident(who, holder_id)
    confine(who, {"id": holder_id, "estate": await photos.holder_estate(conn, kind, holder_id)}, _WHAT[kind])
    return holder_id


def _etag_matches(request: web.Request, sha256: str) -> bool:
    return any(tag.value in (sha256, "*") for tag in request.if_none_match or ())


def photo_routes(kind: HolderKind, base: str) -> list[web.RouteDef]:
    """GET, PUT and DELETE of `{base}/photo` for one kind of holder."""
    path, what = f"{base}/photo", _WHAT[kind]

    async def get(request: web.Request) -> web.StreamResponse:
        async with engine(request).connect() as conn:
            holder_id = await _holder(conn, request, kind)
            info = await photos.photo_info(conn, kind, holder_id)
            if info is None or _etag_matches(request, info["sha256"]):
                photo = info
            else:
                photo = await photos.get_photo(conn, kind, holder_id)
        if photo is None:
            raise json_error(web.HTTPNotFound, "not_found", f"{what} {holder_id} has no photo")
        headers = {"ETag": f'"{photo["sha256"]}"', "Cache-Control": CACHE, "Vary": "Authorization, Cookie",
                   "X-Content-Type-Options": "nosniff"}
        if "data" not in photo:
            return web.Response(status=304, headers=headers)
        return web.Response(body=photo["data"], content_type=photo["content_type"], headers=headers)

    async def put(request: web.Request) -> web.StreamResponse:
        image = await _body(request)
        async with engine(request).begin() as conn:
            holder_id = await _holder(conn, request, kind)
            info = await photos.set_photo(conn, principal(request), kind, holder_id, image)
        answer = reply(info)
        answer.headers["ETag"] = f'"{info["sha256"]}"'
        return answer

    async def delete(request: web.Request) -> web.StreamResponse:
        async with engine(request).begin() as conn:
            holder_id = await _holder(conn, request, kind)
            await photos.delete_photo(conn, principal(request), kind, holder_id)
        return reply({"deleted": True, "id": holder_id})

    made: list[tuple[str, str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
        ("GET", "get", f"The {what}'s photo: the image bytes, with an ETag (If-None-Match answers 304)", get),
        ("PUT", "set", f"Set or replace the {what}'s photo: the body is a JPEG or PNG of at most 512 KiB", put),
        ("DELETE", "delete", f"Remove the {what}'s photo", delete)]
    out = []
    for method, action, summary, handler in made:
        handler.__doc__, handler.__name__ = summary, f"{kind}_photo_{action}"
        out.append(web.route(method, path, endpoint(handler), name=f"registry.{kind}_photo.{action}"))
    return out


ID = r"{id:\d+}"
routes = [*photo_routes("resident", f"/residents/{ID}"), *photo_routes("staff", f"/staff/{ID}")]
