"""The guards' live stream lives only as long as the session that opened it."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from central.api import live
from central.auth import routes as auth_routes
from central.auth.models import User
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.auth.service import NewUser, create_user
from central.keys import LIVE
from central.live import LiveFeed
from tests.support.api_app import PASSWORD, api_app

AT = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


def tap(seq: int) -> dict:
    return {"uuid": f"00000000-0000-4000-8000-{seq:012d}", "estate": "demo", "gateway": "gate-1", "seq": seq,
            "device": "main-gate-reader", "kind": "card.read", "device_time": None, "received_at": AT,
            "stored_at": AT, "data": {"card": f"{seq:010X}"}}


@pytest.fixture
async def guard(engine):
    async with engine.begin() as conn:
        await create_user(conn, SYSTEM, NewUser("guard-li", PASSWORD, Role.GUARD, frozenset({"demo"})))
    app = api_app(engine, routes=[*auth_routes.routes, *live.routes])
    feed = app[LIVE] = LiveFeed()
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/api/v1/auth/login", json={"username": "guard-li", "password": PASSWORD})
        assert response.status == 200
        yield client, feed, (await response.json())["csrf_token"]


async def wait_for_watcher(feed: LiveFeed) -> None:
    for _ in range(100):
        if feed.watching():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the stream never started watching")


async def rest_of_stream(response) -> bytes:  # noqa: ANN001
    return await asyncio.wait_for(response.content.read(), 5)


async def test_the_stream_ends_at_logout(guard):
    client, feed, csrf = guard
    stream = await client.get("/api/v1/estates/demo/live")
    assert stream.status == 200
    await wait_for_watcher(feed)
    feed.publish([tap(1)])
    assert (await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})).status == 200
    feed.publish([tap(2)])
    text = await rest_of_stream(stream)
    assert b"000000000002" not in text, "a logged-out browser still receives taps"


async def test_the_stream_ends_when_the_user_is_disabled(guard, engine):
    client, feed, _ = guard
    stream = await client.get("/api/v1/estates/demo/live")
    await wait_for_watcher(feed)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.username == "guard-li").values(active=False))
    feed.publish([tap(3)])
    text = await rest_of_stream(stream)
    assert b"0000000003" not in text, "a disabled guard still receives taps"
