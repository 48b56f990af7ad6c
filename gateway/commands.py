"""Commands from central: validated, refused when stale, run once each, answered with a reply."""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from estatelink import wire

log = logging.getLogger("gateway.commands")
Handler = Callable[[wire.Command], Awaitable[str]]
REMEMBERED_IDS = 1000


class Refused(Exception):
    """Raised by a handler that understood the command and declines it: the reply is `refused` with this detail."""


class CommandRouter:
    """Routes `down/{name}` messages to registered handlers."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._seen: OrderedDict[str, wire.Reply] = OrderedDict()
        self.rejected = 0

    def register(self, name: str, handler: Handler) -> None:
        self._handlers[name] = handler

    async def handle(self, name: str, payload: bytes) -> wire.Reply | None:
        """Run one command; returns the reply to publish, or None when the payload is not a command."""
        try:
            command = wire.loads(wire.Command, payload)
        except wire.WireError as exc:
            self.rejected += 1
            log.warning("rejected malformed command on down/%s: %s", name, exc)
            return None
        if str(command.id) in self._seen:
            return self._seen[str(command.id)]  # a redelivery: answer again, do not act twice
        reply = await self._run(name, command)
        self._seen[str(command.id)] = reply
        while len(self._seen) > REMEMBERED_IDS:
            self._seen.popitem(last=False)
        return reply

    async def _run(self, name: str, command: wire.Command) -> wire.Reply:
        def reply(status: str, detail: str) -> wire.Reply:
            return wire.Reply(command_id=command.id, name=command.name, status=status, detail=detail,
                              at=wire.utc_now())

        if command.name != name:
            return reply("refused", f"command name {command.name!r} does not match topic down/{name}")
        if command.expired():
            log.info("refused expired command %s from %s", command.name, command.issuer)
            return reply("expired", f"expired at {command.expires_at.isoformat()}")
        handler = self._handlers.get(name)
        if handler is None:
            return reply("unknown", f"this gateway has no command {name!r}")
        try:
            return reply("ok", await handler(command))
        except Refused as exc:
            log.info("refused command %s from %s: %s", name, command.issuer, exc)
            return reply("refused", str(exc))
        except Exception as exc:  # a failing command is reported back, it never stops the gateway
            log.warning("command %s failed: %s", name, exc)
            return reply("failed", str(exc))
