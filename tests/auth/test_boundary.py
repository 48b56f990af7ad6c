"""The security boundary on odd input: CSRF, odd header bytes, concurrent wrong passwords, login content types."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from central.api import events
from central.auth import routes as auth_routes
from central.auth.models import User
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.auth.service import NewUser, create_user
from tests.support.api_app import PASSWORD, api_app, role_tokens


@pytest.fixture
async def client(engine):
    async with engine.begin() as conn:
        await create_user(conn, SYSTEM, NewUser("guard-li", PASSWORD, Role.GUARD, frozenset({"demo"})))
    async with TestClient(TestServer(api_app(engine, routes=[*auth_routes.routes, *events.routes]))) as client:
        yield client


async def login(client: TestClient) -> str:
    response = await client.post("/api/v1/auth/login", json={"username": "guard-li", "password": PASSWORD})
    assert response.status == 200
    return (await response.json())["csrf_token"]


async def test_a_non_ascii_csrf_header_is_refused_not_a_500(client):
    await login(client)
    response = await client.post("/api/v1/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "é" * 43})
    assert response.status == 403
    assert (await response.json())["error"] == "csrf"


@pytest.mark.parametrize("header", [b"Authorization: Bearer elk_\xff\xfe", b"Cookie: estatelink_session=\xff\xfe"])
async def test_non_utf8_credentials_are_refused_not_a_500(client, header):
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n\r\n")
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] in (b"400", b"401"), status_line


async def test_login_needs_a_json_content_type(client):
    """A cross-site form can post text/plain (no preflight) but never application/json: no login CSRF."""
    response = await client.post("/api/v1/auth/login", headers={"Content-Type": "text/plain"},
                                 data=b'{"username": "guard-li", "password": "' + PASSWORD.encode() + b'"}')
    assert response.status == 415
    assert "application/json" in (await response.json())["message"]


async def test_concurrent_wrong_passwords_still_lock_the_account(client, engine):
    async def wrong() -> int:
        response = await client.post("/api/v1/auth/login", json={"username": "guard-li", "password": "nope-nope-1"})
        return response.status

    statuses = await asyncio.gather(*(wrong() for _ in range(12)))
    assert set(statuses) <= {401, 423}
    async with engine.connect() as conn:
        locked_until = await conn.scalar(select(User.locked_until).where(User.username == "guard-li"))
    assert locked_until is not None, "twelve wrong passwords at once must lock the account"


@pytest.mark.parametrize("query", ["device=%00", "estate=demo%00", "kind=card.read&gateway=g%00w"])
async def test_a_nul_in_the_query_is_a_bad_request(engine, query):
    async with engine.begin() as conn:
        tokens = await role_tokens(conn, [("admin-zhou", Role.ADMIN, None)])
    app = api_app(engine, routes=[*auth_routes.routes, *events.routes])
    async with TestClient(TestServer(app)) as client:
        response = await client.get(f"/api/v1/events?{query}",
                                    headers={"Authorization": f"Bearer {tokens['admin-zhou']}"})
        assert response.status == 400, await response.text()
        assert "NUL" in (await response.json())["message"]


async def test_a_nul_in_a_json_body_is_a_bad_request(client):
    csrf = await login(client)
    response = await client.post("/api/v1/auth/tokens", json={"name": "script\u0000"}, headers={"X-CSRF-Token": csrf})
    assert response.status == 400, await response.text()
    assert (await response.json())["message"] == "name: contains a NUL character (\\u0000); remove it"


async def test_logging_in_again_ends_the_session_the_browser_had(client):
    await login(client)
    old = client.session.cookie_jar.filter_cookies(client.make_url("/"))["estatelink_session"].value
    await login(client)
    new = client.session.cookie_jar.filter_cookies(client.make_url("/"))["estatelink_session"].value
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/auth/me", cookies={"estatelink_session": new})).status == 200
    response = await client.get("/api/v1/auth/me", cookies={"estatelink_session": old})
    assert response.status == 401, "the session from before the login must not stay usable"
