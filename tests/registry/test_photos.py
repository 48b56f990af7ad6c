"""Holder photos through HTTP: the office sets them, guards and the resident themselves read them, every change is
audited without the bytes, and what is not a small JPEG or PNG is refused with the reason."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from central.auth import routes as auth_routes
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.registry import estates, residents, staff
from central.registry.images import MAX_BYTES
from central.registry.routes import add_routes
from tests.support.api_app import api_app, role_tokens
from tests.support.images import jpeg, png


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    ids: dict[str, int]

    async def __call__(self, who: str, method: str, path: str, data: bytes | None = None,
                       headers: dict[str, str] | None = None) -> tuple[ClientResponse, Any]:
        resp = await self.client.request(method, "/api/v1" + path, data=data, headers={
            "Authorization": f"Bearer {self.tokens[who]}", **(headers or {})})
        body = await resp.read()
        return resp, (await resp.json() if resp.content_type == "application/json" else body)

    async def put(self, who: str, path: str, data: bytes, content_type: str = "image/png") -> tuple[ClientResponse, Any]:
        return await self(who, "PUT", path, data, {"Content-Type": content_type})


@pytest.fixture
async def api(engine):
    async with engine.begin() as conn:
        for code in ("demo", "other"):
            await estates.create_estate(conn, SYSTEM, estates.EstateCreate(code=code, name=code.title()))
        me = await residents.create_resident(conn, SYSTEM, "demo", residents.ResidentCreate(name="Resident Self"))
        neighbour = await residents.create_resident(conn, SYSTEM, "demo", residents.ResidentCreate(name="Neighbour"))
        worker = await staff.create_staff(conn, SYSTEM, "demo", staff.StaffCreate(name="Guard Post"))
        tokens = await role_tokens(conn, (("admin", Role.ADMIN, None), ("manager", Role.MANAGER, "demo"),
                                           ("manager-b", Role.MANAGER, "other"), ("cashier", Role.CASHIER, "demo"),
                                           ("guard", Role.GUARD, "demo"), ("guard-b", Role.GUARD, "other"),
                                           ("resident", Role.RESIDENT, "demo")), me["id"])
    app = api_app(engine, add_routes, routes=auth_routes.routes)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens, {"self": me["id"], "neighbour": neighbour["id"], "staff": worker["id"]})


async def test_upload_read_revalidate_replace_and_delete(api):
    path, image = f"/residents/{api.ids['self']}/photo", png(37, 23)
    digest = hashlib.sha256(image).hexdigest()
    resp, made = await api.put("manager", path, image)
    assert resp.status == 200, made
    assert resp.headers["ETag"] == f'"{digest}"'
    assert {k: made[k] for k in ("holder_kind", "holder_id", "estate", "content_type", "size", "width", "height",
                                 "sha256")} == {"holder_kind": "resident", "holder_id": api.ids["self"],
                                                "estate": "demo", "content_type": "image/png", "size": len(image),
                                                "width": 37, "height": 23, "sha256": digest}
    assert made["updated_at"].endswith("Z") and "data" not in made

    resp, body = await api("guard", "GET", path)
    assert (resp.status, body, resp.content_type) == (200, image, "image/png")
    assert resp.headers["Cache-Control"] == "private, max-age=300"
    assert resp.headers["ETag"] == f'"{digest}"'
    resp, body = await api("guard", "GET", path, headers={"If-None-Match": f'"{digest}"'})
    assert (resp.status, body) == (304, b"")
    assert resp.headers["ETag"] == f'"{digest}"'

    replacement = jpeg(64, 48)
    resp, changed = await api.put("admin", path, replacement, "image/jpeg")
    assert (resp.status, changed["content_type"], changed["width"], changed["height"]) == (200, "image/jpeg", 64, 48)
    resp, body = await api("resident", "GET", path, headers={"If-None-Match": f'"{digest}"'})
    assert (resp.status, body, resp.content_type) == (200, replacement, "image/jpeg"), "a new photo, a new ETag"

    resp, gone = await api("manager", "DELETE", path)
    assert (resp.status, gone) == (200, {"deleted": True, "id": api.ids["self"]})
    resp, missing = await api("guard", "GET", path)
    assert (resp.status, missing["error"]) == (404, "not_found")
    assert missing["message"] == f"resident {api.ids['self']} has no photo"
    assert (await api("manager", "DELETE", path))[0].status == 404


async def test_staff_photos_for_guards_not_residents(api):
    path = f"/staff/{api.ids['staff']}/photo"
    assert (await api.put("manager", path, png(8, 8)))[0].status == 200
    resp, body = await api("guard", "GET", path)
    assert (resp.status, body) == (200, png(8, 8))
    assert (await api("resident", "GET", path))[0].status == 403
    assert (await api("cashier", "GET", path))[0].status == 403
    assert (await api("guard-b", "GET", path))[0].status == 404


async def test_what_is_not_a_small_jpeg_or_png_is_refused_with_the_reason(api):
    path = f"/residents/{api.ids['self']}/photo"
    resp, answer = await api.put("manager", path, bytes(MAX_BYTES + 1))
    assert (resp.status, answer["error"]) == (413, "too_large")
    assert answer["message"].startswith(f"a photo is at most {MAX_BYTES} bytes (512 KiB), this one is {MAX_BYTES + 1}")
    resp, answer = await api.put("manager", path, b"GIF89a\x01\x00\x01\x00", "image/gif")
    assert (resp.status, answer["error"]) == (415, "unsupported_media_type")
    assert answer["message"] == "Content-Type: a photo is image/jpeg or image/png, got 'image/gif'"
    resp, answer = await api("manager", "PUT", path, b'{"photo": "me.png"}', {"Content-Type": "application/json"})
    assert resp.status == 415
    resp, answer = await api.put("manager", path, png(4, 4), "image/jpeg")
    assert (resp.status, answer["error"]) == (400, "not_an_image")
    assert answer["message"] == "the body is a PNG image but Content-Type says image/jpeg"
    resp, answer = await api.put("manager", path, b"this is not a picture at all", "image/png")
    assert resp.status == 400
    assert answer["message"] == "the body is not a JPEG or PNG image but Content-Type says image/png"
    resp, answer = await api.put("manager", path, png(30, 30)[:-20])
    assert resp.status == 400 and answer["message"].startswith("PNG: cut short")
    resp, answer = await api.put("manager", path, jpeg(30, 30)[:200], "image/jpeg")
    assert resp.status == 400 and answer["message"].startswith("JPEG: ") and "cut short" in answer["message"]
    resp, answer = await api("guard", "GET", path)
    assert resp.status == 404, "nothing refused was stored"


async def test_a_body_larger_than_allowed_without_a_length_is_cut_off(api):
    async def chunks():
        for _ in range(9):
            yield bytes(64 * 1024)

    resp, answer = await api("manager", "PUT", f"/residents/{api.ids['self']}/photo", chunks(),
                             {"Content-Type": "image/png"})
    assert resp.status == 413
    assert answer["message"].startswith(f"a photo is at most {MAX_BYTES} bytes (512 KiB), this one is over {MAX_BYTES};")


async def test_who_may_set_and_read(api):
    mine, theirs = f"/residents/{api.ids['self']}/photo", f"/residents/{api.ids['neighbour']}/photo"
    for path in (mine, theirs):
        assert (await api.put("manager", path, png(5, 5)))[0].status == 200
    for who in ("guard", "resident", "cashier"):
        assert (await api.put(who, mine, png(6, 6)))[0].status == 403, who
        assert (await api(who, "DELETE", mine))[0].status == 403, who
    assert (await api("cashier", "GET", mine))[0].status == 403
    assert (await api("guard", "GET", theirs))[0].status == 200
    assert (await api("resident", "GET", mine))[0].status == 200
    resp, answer = await api("resident", "GET", theirs)
    assert (resp.status, answer["message"]) == (404, f"no resident with id {api.ids['neighbour']}")
    for who in ("guard-b", "manager-b"):
        resp, answer = await api(who, "GET", mine)
        assert (resp.status, answer["message"]) == (404, f"no resident with id {api.ids['self']}"), who
    assert (await api.put("manager-b", mine, png(6, 6)))[0].status == 404
    assert (await api("manager-b", "DELETE", mine))[0].status == 404
    assert (await api("guard", "GET", "/residents/999999/photo"))[0].status == 404
    assert (await api.put("manager", "/staff/999999/photo", png(6, 6)))[0].status == 404
    resp, body = await api("guard", "GET", mine)
    assert body == png(5, 5), "refused changes changed nothing"


async def test_every_change_is_audited_with_digest_and_size_never_the_bytes(api):
    resident, worker = api.ids["self"], api.ids["staff"]
    first, second = png(20, 10), jpeg(16, 16)
    await api.put("manager", f"/residents/{resident}/photo", first)
    await api.put("manager", f"/residents/{resident}/photo", second, "image/jpeg")
    await api("manager", "DELETE", f"/residents/{resident}/photo")
    await api.put("manager", f"/staff/{worker}/photo", first)
    resp, audit = await api("manager", "GET", "/audit?entity=resident_photo")
    assert resp.status == 200
    entries = audit["items"]
    assert [(e["action"], e["entity_id"], e["actor"], e["estate"]) for e in entries] == [
        ("resident_photo.delete", str(resident), "manager", "demo"),
        ("resident_photo.update", str(resident), "manager", "demo"),
        ("resident_photo.create", str(resident), "manager", "demo")]
    created, updated = entries[2], entries[1]
    assert created["before"] is None
    assert (created["after"]["sha256"], created["after"]["size"]) == (hashlib.sha256(first).hexdigest(), len(first))
    assert (updated["before"]["sha256"], updated["after"]["sha256"], updated["after"]["size"]) == (
        hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest(), len(second))
    assert entries[0]["after"] is None and entries[0]["before"]["sha256"] == hashlib.sha256(second).hexdigest()
    for entry in entries:
        for side in (entry["before"], entry["after"]):
            assert side is None or "data" not in side
    text = str(audit)
    assert "IHDR" not in text and "\\x89PNG" not in text and "iVBOR" not in text, "no bytes in any encoding"
    resp, audit = await api("manager", "GET", "/audit?entity=staff_photo")
    assert [e["action"] for e in audit["items"]] == ["staff_photo.create"]


async def test_deleting_a_holder_deletes_their_photo(api):
    path = f"/staff/{api.ids['staff']}/photo"
    assert (await api.put("manager", path, png(3, 3)))[0].status == 200
    assert (await api("manager", "DELETE", f"/staff/{api.ids['staff']}"))[0].status == 200
    assert (await api("manager", "GET", path))[0].status == 404
    _, audit = await api("manager", "GET", "/audit?entity=staff_photo")
    assert [e["action"] for e in audit["items"]] == ["staff_photo.delete", "staff_photo.create"]
