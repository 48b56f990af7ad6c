"""A command whose times central could not have sent is refused like an expired one, before any handler runs:
a lifetime longer than its kind may have, issued after it expires, or issued too far in the future."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from estatelink import wire
from gateway.access_runtime import DOOR_OPEN_MAX_LIFETIME
from gateway.access_sync import SYNC_MAX_LIFETIME
from gateway.commands import CLOCK_SKEW, DEFAULT_MAX_LIFETIME, CommandRouter


class DoorOpen:
    def __init__(self) -> None:
        self.ran: list[wire.Command] = []

    async def __call__(self, command: wire.Command) -> str:
        self.ran.append(command)
        return "released"


def payload(name: str, *, issued: timedelta, lives: timedelta, **args: Any) -> bytes:
    """A command issued `issued` from now (negative: in the past) that expires `lives` after it was issued."""
    at = wire.utc_now() + issued
    return wire.dumps(wire.Command(id=uuid.uuid4(), name=name, issuer="central/console", issued_at=at,
                                   expires_at=at + lives, args=args))


@pytest.fixture
def door_open() -> DoorOpen:
    return DoorOpen()


@pytest.fixture
def router(door_open: DoorOpen) -> CommandRouter:
    router = CommandRouter()
    router.register("door_open", door_open, max_lifetime=DOOR_OPEN_MAX_LIFETIME)
    router.register("access_delta", door_open, max_lifetime=SYNC_MAX_LIFETIME)
    return router


async def test_a_door_open_issued_a_day_ago_that_expires_in_ten_years_does_not_run(router, door_open):
    reply = await router.handle("door_open", payload("door_open", issued=-timedelta(days=1),
                                                     lives=timedelta(days=3651), door="b3-lobby"))
    assert door_open.ran == []
    assert reply.status == "expired", "refused the way an expired command is"
    assert "a door_open may live at most 60 s" in reply.detail


async def test_a_command_issued_after_it_expires_does_not_run(router, door_open):
    reply = await router.handle("door_open", payload("door_open", issued=timedelta(seconds=30),
                                                     lives=-timedelta(seconds=10), door="b3-lobby"))
    assert door_open.ran == [] and reply.status == "expired"
    assert "is after expires_at" in reply.detail


async def test_a_command_issued_beyond_the_clock_skew_allowance_does_not_run(router, door_open):
    reply = await router.handle("door_open", payload("door_open", issued=CLOCK_SKEW + timedelta(minutes=1),
                                                     lives=timedelta(seconds=30), door="b3-lobby"))
    assert door_open.ran == [] and reply.status == "expired"
    assert "in this gateway's future" in reply.detail and "clocks" in reply.detail


async def test_commands_as_central_issues_them_run_even_with_central_a_little_ahead(router, door_open):
    fresh = await router.handle("door_open", payload("door_open", issued=timedelta(0),
                                                     lives=timedelta(seconds=30), door="b3-lobby"))
    ahead = await router.handle("door_open", payload("door_open", issued=timedelta(minutes=4),
                                                     lives=DOOR_OPEN_MAX_LIFETIME, door="b3-lobby"))
    sync = await router.handle("access_delta", payload("access_delta", issued=-timedelta(hours=23),
                                                       lives=timedelta(hours=24)))
    assert [fresh.status, ahead.status, sync.status] == ["ok", "ok", "ok"]
    assert len(door_open.ran) == 3


async def test_a_sync_command_may_live_a_day_and_no_longer(router, door_open):
    reply = await router.handle("access_delta", payload("access_delta", issued=-timedelta(hours=1),
                                                        lives=SYNC_MAX_LIFETIME + timedelta(seconds=1)))
    assert door_open.ran == [] and reply.status == "expired" and "at most 24 h" in reply.detail


async def test_a_command_registered_without_a_limit_gets_the_default_one(door_open):
    router = CommandRouter()
    router.register("replay", door_open)
    reply = await router.handle("replay", payload("replay", issued=timedelta(0),
                                                  lives=DEFAULT_MAX_LIFETIME + timedelta(seconds=1)))
    assert door_open.ran == [] and reply.status == "expired"
