"""A command that fails on a bad record: the log above DEBUG names the command, record kind, field and a masked
card, never the card or the record; the reply to central keeps the detail; refusals and failures are counted."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from estatelink import wire
from gateway.access.sync import parse_delta
from gateway.commands import CommandRouter, Refused
from tests.access_edge.helpers import wire_credential

CARD = "62E3086CED"


async def apply_delta(command: wire.Command) -> str:
    parse_delta(command.args)
    return "applied"


async def refuse(command: wire.Command) -> str:
    raise Refused("at version 3")


def command(name: str, **args) -> bytes:
    issued = wire.utc_now()
    return wire.dumps(wire.Command(id=uuid.uuid4(), name=name, issuer="central/access", issued_at=issued,
                                   expires_at=issued + timedelta(seconds=30), args=args))


def bad_delta() -> bytes:
    alien = {**wire_credential(CARD), "holder_kind": "alien"}
    return command("access_delta", from_version=0, to_version=1, upserts={"credentials": [alien]})


async def test_a_bad_credential_is_logged_masked_above_debug_and_in_full_only_at_debug(caplog):
    router = CommandRouter()
    router.register("access_delta", apply_delta)
    with caplog.at_level(logging.DEBUG, logger="gateway.commands"):
        reply = await router.handle("access_delta", bad_delta())
    assert reply.status == "failed" and CARD in reply.detail, "central gets the whole detail"
    loud = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
    assert loud == ["command access_delta failed: bad record: kind credentials, key '******6CED', "
                    "field holder_kind"]
    assert any(CARD in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


async def test_refused_and_failed_replies_are_counted_per_command(caplog):
    router = CommandRouter()
    router.register("access_delta", apply_delta)
    router.register("access_current", refuse)
    await router.handle("access_delta", bad_delta())
    await router.handle("access_delta", bad_delta())
    await router.handle("access_current", command("access_current", version=3))
    await router.handle("access_delta", command("access_delta", from_version=0, to_version=1))
    assert router.counts() == {"access_delta": {"failed": 2}, "access_current": {"refused": 1}}
    assert router.rejected == 0, "rejected counts payloads that are not commands at all"
