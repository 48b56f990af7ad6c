"""Commands from central: run once each, refused when stale or misaddressed, always answered."""
from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest

from estatelink import wire
from gateway.commands import CommandRouter


class Recorder:
    """A command handler that remembers every call."""

    def __init__(self, answer: str = "done", error: Exception | None = None) -> None:
        self.calls: list[wire.Command] = []
        self.answer, self.error = answer, error

    async def __call__(self, command: wire.Command) -> str:
        self.calls.append(command)
        if self.error is not None:
            raise self.error
        return self.answer


def command(name: str = "replay", *, ttl: timedelta = timedelta(seconds=60), **args) -> wire.Command:
    issued = wire.utc_now()
    return wire.Command(id=uuid.uuid4(), name=name, issuer="central/ingest", issued_at=issued,
                        expires_at=issued + ttl, args=args or {"ranges": [[43, 57]]})


@pytest.fixture
def replay() -> Recorder:
    return Recorder("replaying from 43")


@pytest.fixture
def router(replay: Recorder) -> CommandRouter:
    router = CommandRouter()
    router.register("replay", replay)
    return router


def on_the_wire(reply: wire.Reply) -> wire.Reply:
    """What central would read back from the reply topic."""
    return wire.loads(wire.Reply, wire.dumps(reply))


async def test_a_valid_command_runs_its_handler_once_and_replies_ok(router, replay):
    cmd = command(ranges=[[43, 57]])
    before = wire.utc_now()
    reply = on_the_wire(await router.handle("replay", wire.dumps(cmd)))
    assert (reply.command_id, reply.name, reply.status, reply.detail) == (cmd.id, "replay", "ok", "replaying from 43")
    assert before <= reply.at <= wire.utc_now()
    assert len(replay.calls) == 1
    assert replay.calls[0] == cmd and replay.calls[0].args == {"ranges": [[43, 57]]}
    assert router.rejected == 0


async def test_a_redelivered_command_runs_once_and_gets_the_same_reply(router, replay):
    payload = wire.dumps(command())
    first = await router.handle("replay", payload)
    second = await router.handle("replay", payload)
    assert first.status == "ok"
    assert wire.dumps(second) == wire.dumps(first), "the first reply again, timestamp and all"
    assert len(replay.calls) == 1
    other = await router.handle("replay", wire.dumps(command()))
    assert other.status == "ok" and len(replay.calls) == 2, "a different id is a different command"


async def test_an_expired_command_is_refused_without_running(router, replay):
    cmd = command(ttl=timedelta(seconds=-1))
    reply = await router.handle("replay", wire.dumps(cmd))
    assert reply.status == "expired" and reply.command_id == cmd.id
    assert cmd.expires_at.isoformat() in reply.detail
    assert replay.calls == []
    again = await router.handle("replay", wire.dumps(cmd))
    assert again.status == "expired" and replay.calls == []


async def test_an_unknown_command_is_answered_unknown(router, replay):
    cmd = command("open_door", door="main")
    reply = await router.handle("open_door", wire.dumps(cmd))
    assert (reply.status, reply.name, reply.command_id) == ("unknown", "open_door", cmd.id)
    assert "open_door" in reply.detail
    assert replay.calls == []


async def test_a_command_whose_name_does_not_match_its_topic_is_refused(router, replay):
    reboot = Recorder()
    router.register("reboot", reboot)
    cmd = command("reboot")
    reply = await router.handle("replay", wire.dumps(cmd))
    assert reply.status == "refused" and reply.command_id == cmd.id
    assert "reboot" in reply.detail and "down/replay" in reply.detail
    assert replay.calls == [] and reboot.calls == []


@pytest.mark.parametrize("payload", [
    b"not json at all",
    b"",
    orjson.dumps({"v": 1, "name": "replay"}),
    orjson.dumps({**orjson.loads(wire.dumps(command())), "expires_at": "2026-11-27T08:01:00"}),  # no offset
    orjson.dumps({**orjson.loads(wire.dumps(command())), "surprise": True}),
    orjson.dumps([1, 2, 3]),
], ids=["not-json", "empty", "missing-fields", "naive-expiry", "unknown-field", "array"])
async def test_a_malformed_payload_gets_no_reply_and_is_counted(router, replay, payload):
    assert await router.handle("replay", payload) is None
    assert router.rejected == 1
    assert await router.handle("replay", payload) is None
    assert router.rejected == 2
    assert replay.calls == []
    good = await router.handle("replay", wire.dumps(command()))
    assert good.status == "ok" and router.rejected == 2


async def test_a_failing_handler_is_reported_as_failed_with_its_message():
    router = CommandRouter()
    broken = Recorder(error=RuntimeError("serial line /dev/ttyUSB0 is gone"))
    router.register("replay", broken)
    cmd = command()
    reply = on_the_wire(await router.handle("replay", wire.dumps(cmd)))
    assert (reply.status, reply.detail, reply.command_id) == ("failed", "serial line /dev/ttyUSB0 is gone", cmd.id)
    assert len(broken.calls) == 1
    again = await router.handle("replay", wire.dumps(cmd))
    assert again.status == "failed" and len(broken.calls) == 1, "a redelivery does not retry a failed command"
    router.register("replay", Recorder("fine"))
    assert (await router.handle("replay", wire.dumps(command()))).status == "ok", "the router keeps working"
