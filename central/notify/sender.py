"""The sender: a background task that claims due notices, sends them, and retries failures with backoff.

At least once: a notice is marked sent only after the server took it, and one whose sender died mid-send is
queued again when its lease runs out (it may then arrive twice, under the same Message-ID). A transient failure
waits backoff_base_s, doubling up to backoff_max_s, for at most max_attempts attempts, then the notice is
failed_permanently: still listed, and re-queueable through the API. A permanent refusal (5xx) fails it at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from central.keys import CONFIG, ENGINE
from central.notify import attachments, outbox
from central.notify.config import NotifyConfig
from central.notify.errors import Invalid, PermanentSendError, SendError, TransientSendError
from central.notify.models import Notification
from central.notify.pdf import find_font
from central.notify.smtp import OutgoingEmail, SmtpTransport, load_password
from central.notify.sms import OutgoingSms, SimulatedSmsProvider, SmsProvider
from estatelink import wire

log = logging.getLogger("central.notify")


class EmailTransport(Protocol):
    def describe(self) -> str:
        """Where mail goes, for the log."""
        ...

    async def send(self, mail: OutgoingEmail, now: datetime) -> str:
        """Send one message; returns its Message-ID, raises a SendError on failure."""
        ...


class NotifySender:
    """Sends due notices through the transports it has; notices of a channel without one stay queued."""

    def __init__(self, engine: AsyncEngine, config: NotifyConfig, *, email: EmailTransport | None = None,
                 sms: SmsProvider | None = None, clock: Callable[[], datetime] = wire.utc_now) -> None:
        self.engine, self.config, self.email, self.sms, self.clock = engine, config, email, sms, clock
        self.worker = f"{socket.gethostname()}:{os.getpid()}"[:128]
        self._stopping = asyncio.Event()
        self._failing: set[str] = set()

    @classmethod
    def from_config(cls, engine: AsyncEngine, config: NotifyConfig) -> "NotifySender":
        """The transports the config names (SMTP password from the environment or its file)."""
        email = SmtpTransport(config.smtp, load_password(config.smtp)) if config.smtp.host else None
        sms = SimulatedSmsProvider() if config.sms.provider == "simulated" else None
        return cls(engine, config, email=email, sms=sms)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this sender has a transport for; the others' notices wait."""
        return tuple(name for name, transport in (("email", self.email), ("sms", self.sms)) if transport is not None)

    async def run_once(self) -> int:
        """Put back notices with expired leases, then send what is due, at most batch_size; returns how many."""
        async with self.engine.begin() as conn:
            recovered = await outbox.recover_expired(conn, self.clock(), self.config.max_attempts, self.worker)
        if recovered:
            log.warning("notices %s were claimed by a sender that stopped mid-send; queued again", recovered)
        done = 0
        while done < self.config.batch_size and not self._stopping.is_set():
            async with self.engine.begin() as conn:
                claimed = await outbox.claim(conn, self.channels, self.clock(), self.config.lease_s)
            if claimed is None:
                break
            await self._attempt(claimed)
            done += 1
        return done

    async def _attempt(self, claimed: outbox.Claimed) -> None:
        try:
            provider_id = await self._send(claimed)
        except SendError as exc:
            await self._failed(claimed, exc)
        except Exception as exc:  # a bug must not lose the notice: it is retried like a transient failure
            log.exception("notice %d: unexpected error while sending", claimed.id)
            await self._failed(claimed, TransientSendError(f"internal error: {type(exc).__name__}"))
        else:
            if claimed.channel in self._failing:
                self._failing.discard(claimed.channel)
                log.info("%s notices are going out again", claimed.channel)
            await self._finish(claimed, "sent", provider_id=provider_id)

    async def _send(self, claimed: outbox.Claimed) -> str:
        if claimed.channel == "sms":
            assert self.sms is not None
            return await self.sms.send(OutgoingSms(claimed.id, claimed.estate, claimed.recipient, claimed.body))
        assert self.email is not None
        name, data = None, None
        if claimed.has_attachment:
            async with self.engine.begin() as conn:
                row = (await conn.execute(Notification.__table__.select().where(
                    Notification.id == claimed.id))).one()
                try:
                    found = await attachments.ensure(conn, row, self.config.font_file)
                except Invalid as exc:  # the rendered PDF is over the size limit: rendering again cannot help
                    raise PermanentSendError(f"the attachment cannot be sent: {exc}") from None
            if found is not None:
                name, data = found
        mail = OutgoingEmail(claimed.id, claimed.estate, claimed.recipient, claimed.subject, claimed.body, name, data)
        return await self.email.send(mail, self.clock())

    async def _failed(self, claimed: outbox.Claimed, exc: SendError) -> None:
        now = self.clock()
        if isinstance(exc, PermanentSendError):
            log.warning("notice %d refused for good: %s", claimed.id, exc.message)
            await self._finish(claimed, "failed", error=exc.message)
            return
        if claimed.channel not in self._failing:  # loudly once, then quietly until it works again
            self._failing.add(claimed.channel)
            log.warning("%s notice %d not sent, will retry: %s", claimed.channel, claimed.id, exc.message)
        else:
            log.debug("%s notice %d not sent, will retry: %s", claimed.channel, claimed.id, exc.message)
        if claimed.attempts >= self.config.max_attempts:
            log.warning("notice %d failed after %d attempts: %s", claimed.id, claimed.attempts, exc.message)
            await self._finish(claimed, "failed", error=exc.message)
            return
        wait = outbox.backoff(claimed.attempts, self.config.backoff_base_s, self.config.backoff_max_s)
        await self._finish(claimed, "retry", error=exc.message, retry_at=now + wait)

    async def _finish(self, claimed: outbox.Claimed, outcome: str, *, error: str | None = None,
                      provider_id: str | None = None, retry_at: datetime | None = None) -> None:
        async with self.engine.begin() as conn:
            kept = await outbox.finish(conn, claimed, outcome=outcome, now=self.clock(), worker=self.worker,
                                       error=error, provider_id=provider_id, retry_at=retry_at)
        if not kept:
            log.warning("notice %d: the claim had expired before the attempt ended; another sender may have "
                        "taken it (lease_s is %ss)", claimed.id, self.config.lease_s)

    async def run(self) -> None:
        """Sweep every poll_interval_s until stopped; a database error is logged and the next sweep tries again."""
        log.info("notify sender started: email via %s, sms via %s", self.email.describe() if self.email else "none",
                 self.sms.name if self.sms else "none")
        if isinstance(self.sms, SimulatedSmsProvider):
            log.warning("SMS notices are only simulated: recorded in memory and marked sent, never delivered")
        if self.email is not None:
            try:
                find_font(self.config.font_file)
            except SendError as exc:
                log.error("%s", exc.message)
        while not self._stopping.is_set():
            done = 0
            try:
                done = await self.run_once()
            except Exception:
                log.exception("notify sweep failed; trying again in %ss", self.config.poll_interval_s)
            if done < self.config.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.config.poll_interval_s)

    async def stop(self, task: asyncio.Task) -> None:
        """Let the send in progress finish (so it is recorded), then end; cancel if it hangs past the SMTP timeout."""
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 3 * self.config.smtp.timeout_s + 5)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def notify_sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """central's cleanup context: run the sender when notify is configured to send (off by default)."""
    config = app[CONFIG].notify
    if not config.sends:
        log.info("notify sender off: set notify.smtp.host to send notices (they queue meanwhile)")
        yield
        return
    sender = NotifySender.from_config(app[ENGINE], config)
    task = asyncio.create_task(sender.run(), name="notify-sender")
    yield
    await sender.stop(task)
