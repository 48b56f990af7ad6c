"""Commands from central: validated, refused when stale, run once each, answered with a reply.

A command is stale, and answered `expired` without running, once `expires_at` has passed, and also when its
times could not have come from central: a lifetime (`expires_at - issued_at`) longer than its kind may have,
an `issued_at` after `expires_at`, or an `issued_at` further in the future than clocks drift apart.
"""
from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from drivers.card_line import mask_card
from estatelink import wire
from estatelink.access_records import RecordError

log = logging.getLogger("gateway.commands")
Handler = Callable[[wire.Command], Awaitable[str]]
REMEMBERED_IDS = 1000
DEFAULT_MAX_LIFETIME = timedelta(seconds=60)
"""The longest a command may live (expires_at - issued_at) when its handler was registered without a limit."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far in this gateway's future a command's issued_at may be (central's clock running ahead)."""


class Refused(Exception):
    """Raised by a handler that understood the command and declines it: the reply is `refused` with this detail."""


def stale_reason(command: wire.Command, max_lifetime: timedelta, now: datetime) -> str | None:
    """Why the command must not run (expired, or times central could not have sent), or None."""
    issued, expires = command.issued_at, command.expires_at
    if now >= expires:
        return f"expired at {expires.isoformat()}"
    if issued > expires:
        return f"issued_at {issued.isoformat()} is after expires_at {expires.isoformat()}"
    if issued - now > CLOCK_SKEW:
        return (f"issued_at {issued.isoformat()} is more than {_span(CLOCK_SKEW)} in this gateway's future; "
                "check the clocks of central and the gateway")
    if expires - issued > max_lifetime:
        return (f"lives {_span(expires - issued)} from issued_at to expires_at; a {command.name} may live at "
                f"most {_span(max_lifetime)}")
    return None


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:g} s" if seconds < 3600 else f"{seconds / 3600:g} h"


def failure_summary(exc: Exception) -> str:
    """What a failed command's log line may say above DEBUG: no record contents, a card key masked."""
    if not isinstance(exc, RecordError):
        return str(exc)
    key = exc.key if exc.key is None or exc.kind != "credentials" else mask_card(exc.key)
    return f"bad record: kind {exc.kind}, key {key!r}, field {exc.field or '-'}"


class CommandRouter:
    """Routes `down/{name}` messages to registered handlers; counts what it did not run to completion."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lifetimes: dict[str, timedelta] = {}
        self._seen: OrderedDict[str, wire.Reply] = OrderedDict()
        self.rejected = 0
        """Payloads on a command topic that were not a command at all."""
        self.outcomes: Counter[tuple[str, str]] = Counter()
        """{(command name, status): replies} for every reply but `ok`."""

    def register(self, name: str, handler: Handler, *, max_lifetime: timedelta = DEFAULT_MAX_LIFETIME) -> None:
        """Run `handler` for down/{name}; a command living longer than `max_lifetime` is refused as stale."""
        self._handlers[name] = handler
        self._lifetimes[name] = max_lifetime

    def counts(self) -> dict[str, dict[str, int]]:
        """{command name: {status: replies}} of the replies that were not `ok` (not published yet: the heartbeat's
        fields are fixed by docs/wire.md)."""
        out: dict[str, dict[str, int]] = {}
        for (name, status), count in sorted(self.outcomes.items()):
            out.setdefault(name, {})[status] = count
        return out

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
        if reply.status != "ok":
            self.outcomes[(name, reply.status)] += 1
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
        stale = stale_reason(command, self._lifetimes.get(name, DEFAULT_MAX_LIFETIME), wire.utc_now())
        if stale is not None:
            level = logging.INFO if command.expired() else logging.WARNING
            log.log(level, "refused stale command %s from %s: %s", command.name, command.issuer, stale)
            return reply("expired", stale)
        handler = self._handlers.get(name)
        if handler is None:
            return reply("unknown", f"this gateway has no command {name!r}")
        try:
            return reply("ok", await handler(command))
        except Refused as exc:
            log.info("refused command %s from %s: %s", name, command.issuer, exc)
            return reply("refused", str(exc))
        except Exception as exc:  # a failing command is reported back, it never stops the gateway
            log.warning("command %s failed: %s", name, failure_summary(exc))
            log.debug("command %s failed in full: %s", name, exc)
            return reply("failed", str(exc))
