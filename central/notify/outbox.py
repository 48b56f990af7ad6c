"""The outbox's transitions, each a short transaction: claim a due notice, record how its attempt ended, and put
back the notices whose sender died mid-send (their lease ran out).

A claim is one UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING on PostgreSQL, so several
central processes never take the same notice; every later write names the claim token, so a sender whose lease
expired cannot overwrite what the next one did. On SQLite (one process) the same single statement is atomic.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.notify.models import ERROR_LENGTH, Notification, NotificationAttempt
from central.registry.common import aware

LEASE_LOST = "the sender stopped during the attempt (its lease expired); the notice may or may not have gone"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    estate: str
    channel: str
    recipient: str
    subject: str
    body: str
    attempts: int
    """Including this one."""
    claim_token: str
    has_attachment: bool
    started_at: datetime


def backoff(attempts: int, base_s: float, max_s: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base, 2 × base, 4 × base, ... up to max."""
    return timedelta(seconds=min(max_s, base_s * 2 ** min(attempts - 1, 40)))


async def claim(conn: AsyncConnection, channels: Collection[str], now: datetime, lease_s: float) -> Claimed | None:
    """Take the most overdue queued notice of the given channels, counting the attempt; None when none is due."""
    if not channels:
        return None
    due = (select(Notification.id)
           .where(Notification.status == "queued", Notification.next_attempt_at <= now,
                  Notification.channel.in_(sorted(channels)))
           .order_by(Notification.next_attempt_at, Notification.id).limit(1)
           .with_for_update(skip_locked=True).scalar_subquery())
    token = str(uuid4())
    row = (await conn.execute(
        update(Notification).where(Notification.id == due, Notification.status == "queued")
        .values(status="sending", attempts=Notification.attempts + 1, claim_token=token,
                lease_until=now + timedelta(seconds=lease_s), updated_at=now)
        .returning(Notification.id, Notification.estate, Notification.channel, Notification.recipient,
                   Notification.subject, Notification.body, Notification.attempts,
                   Notification.attachment_name))).first()
    if row is None:
        return None
    return Claimed(row.id, row.estate, row.channel, row.recipient, row.subject, row.body, row.attempts, token,
                   row.attachment_name is not None, now)


async def finish(conn: AsyncConnection, claimed: Claimed, *, outcome: str, now: datetime, worker: str,
                 error: str | None = None, provider_id: str | None = None,
                 retry_at: datetime | None = None) -> bool:
    """Record the attempt and move the notice on (sent, queued for retry_at, or failed); False if the claim was lost."""
    error = error[:ERROR_LENGTH] if error else None
    values: dict = {"lease_until": None, "claim_token": None, "updated_at": now}
    if outcome == "sent":
        values.update(status="sent", sent_at=now, provider_id=provider_id, last_error=None)
    elif outcome == "retry":
        values.update(status="queued", next_attempt_at=retry_at, last_error=error)
    else:
        values.update(status="failed_permanently", last_error=error)
    moved = await conn.execute(update(Notification).where(
        Notification.id == claimed.id, Notification.status == "sending",
        Notification.claim_token == claimed.claim_token).values(**values))
    await conn.execute(insert(NotificationAttempt).values(
        notification_id=claimed.id, attempt=claimed.attempts, started_at=claimed.started_at, finished_at=now,
        outcome=outcome, error=error, worker=worker))
    return moved.rowcount == 1


async def recover_expired(conn: AsyncConnection, now: datetime, max_attempts: int, worker: str) -> list[int]:
    """Queue again (due now) every notice whose lease ran out; one out of attempts fails instead. Returns their ids."""
    rows = (await conn.execute(
        select(Notification.id, Notification.attempts, Notification.claim_token, Notification.updated_at)
        .where(Notification.status == "sending", Notification.lease_until < now)
        .order_by(Notification.id).with_for_update(skip_locked=True))).all()
    recovered = []
    for row in rows:
        exhausted = row.attempts >= max_attempts
        values = {"status": "failed_permanently" if exhausted else "queued", "next_attempt_at": now,
                  "lease_until": None, "claim_token": None, "last_error": LEASE_LOST, "updated_at": now}
        moved = await conn.execute(update(Notification).where(
            Notification.id == row.id, Notification.status == "sending",
            Notification.claim_token == row.claim_token).values(**values))
        if moved.rowcount != 1:
            continue
        await conn.execute(insert(NotificationAttempt).values(
            notification_id=row.id, attempt=row.attempts, started_at=aware(row.updated_at), finished_at=now,
            outcome="lease_expired", error=LEASE_LOST, worker=worker))
        recovered.append(row.id)
    return recovered
