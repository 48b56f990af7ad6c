"""Queue notices in the caller's transaction, and read, re-queue or cancel them. No HTTP here.

`enqueue` is what other modules call: a bill and its notice commit together or not at all. Queuing the same
(estate, channel, purpose, dedup_key) again changes nothing and answers the notice already queued, so a bill run
that is repeated never notifies twice.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.audit import record_change, record_changes
from central.auth.principal import Principal
from central.notify import attachments, templates
from central.notify.document import NoticeDocument, stored
from central.notify.errors import Conflict, Invalid, NotFound
from central.notify.models import STATUSES, Notification, NotificationAttempt
from central.notify.pdf import CONTENT_TYPE, filename_for
from central.registry.common import digits, plain, require_estate
from central.registry.models import Resident, Unit
from estatelink import wire

Channel = Literal["email", "sms"]
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_PHONE_NOISE = re.compile(r"[^0-9+ ()\-.\uff10-\uff19]")
HIDDEN = ("claim_token", "document", "template_data")
"""Internal (the claim) or bulky (the PDF's source); the PDF itself is downloaded by its own route."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A ready-made file to send with an e-mail (a notice document is usually better: it is rendered when sent)."""

    filename: str
    data: bytes = field(repr=False)
    content_type: str = CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class NoticeRequest:
    """One notice to queue: who gets it, over which channel, which template with which data, and why."""

    estate: str
    channel: Channel
    recipient: str
    purpose: str
    """bill_notice, payment_reminder, dunning_1, ...: what for; lower-case letters, digits and _."""
    dedup_key: str
    """Names this notice within the purpose, e.g. 2026-11:unit-42 (add the recipient for several per unit)."""
    template: str
    data: Mapping[str, Any]
    locale: str = templates.DEFAULT_LOCALE
    unit_id: int | None = None
    resident_id: int | None = None
    document: NoticeDocument | None = None
    """Rendered as the PDF attachment when the e-mail is sent (or first downloaded)."""
    attachment: Attachment | None = None
    send_after: datetime | None = None
    """Not before this time (a reminder before the due date); default now."""


@dataclass(frozen=True, slots=True)
class Enqueued:
    id: int
    created: bool
    """False when the same notice was queued before; status then says how far it got."""
    status: str


def _check(request: NoticeRequest) -> str:
    """Refuse what cannot be sent; returns the recipient as stored (a phone number as digits, + kept)."""
    if not _PURPOSE.match(request.purpose):
        raise Invalid("purpose", f"expected lower-case letters, digits and _ (at most 32), got {request.purpose!r}")
    if not 1 <= len(request.dedup_key) <= 128 or "\x00" in request.dedup_key:
        raise Invalid("dedup_key", "expected 1 to 128 characters")
    if request.document is not None and request.attachment is not None:
        raise Invalid("attachment", "give a document or an attachment, not both")
    if request.send_after is not None and request.send_after.tzinfo is None:
        raise Invalid("send_after", "needs a time zone")
    if request.channel == "email":
        recipient = request.recipient.strip()
        if len(recipient) > 254 or not _EMAIL.match(recipient):
            raise Invalid("recipient", f"expected an e-mail address such as name@example.com, got "
                                       f"{request.recipient!r}")
        return recipient
    if request.channel != "sms":
        raise Invalid("channel", f"expected email or sms, got {request.channel!r}")
    if request.document is not None or request.attachment is not None:
        raise Invalid("channel", "an SMS cannot carry a document or an attachment")
    recipient = ("+" if request.recipient.strip().startswith("+") else "") + digits(request.recipient)
    if not _PHONE.match(recipient) or _PHONE_NOISE.search(request.recipient):
        raise Invalid("recipient", f"expected a phone number such as +86 138 0013 8000, got {request.recipient!r}")
    return recipient


async def _check_owners(conn: AsyncConnection, requests: Sequence[NoticeRequest]) -> None:
    """The units and residents the notices name must belong to each notice's estate (one query per kind and
    estate, however many notices)."""
    for model, name in ((Unit, "unit_id"), (Resident, "resident_id")):
        named: dict[str, set[int]] = {}
        for request in requests:
            if (value := getattr(request, name)) is not None:
                named.setdefault(request.estate, set()).add(value)
        for estate, ids in named.items():
            found: set[int] = set()
            ordered = sorted(ids)
            for start in range(0, len(ordered), 1000):
                found.update((await conn.execute(select(model.id).where(
                    model.estate == estate, model.id.in_(ordered[start:start + 1000])))).scalars())
            if missing := ids - found:
                raise Invalid(name, f"estate {estate!r} has no {name.removesuffix('_id')} with id {min(missing)}")


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(Notification)


async def enqueue(conn: AsyncConnection, actor: Principal, request: NoticeRequest, *,
                  now: datetime | None = None) -> Enqueued:
    """Queue one notice in the caller's transaction; an identical earlier one is answered instead."""
    return (await enqueue_many(conn, actor, [request], now=now))[0]


_CHUNK = 400
"""Notices per INSERT: about 20 columns each, well inside SQLite's 32,766 parameters a statement."""
_UNIQUE = ["estate", "channel", "purpose", "dedup_key"]


def _values(request: NoticeRequest, recipient: str, now: datetime) -> dict[str, Any]:
    text = templates.render(request.template, request.locale, request.channel, request.data)
    return dict(
        estate=request.estate, unit_id=request.unit_id, resident_id=request.resident_id, channel=request.channel,
        recipient=recipient, locale=request.locale, purpose=request.purpose, dedup_key=request.dedup_key,
        template=request.template, template_data=templates.plain_data(request.template, request.data),
        subject=text.subject, body=text.body, document=stored(request.document) if request.document else None,
        attachment_name=request.attachment.filename if request.attachment else None, status="queued",
        attempts=0, next_attempt_at=max(now, (request.send_after or now).astimezone(UTC)), created_at=now,
        updated_at=now)


def _key(values: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return values["estate"], values["channel"], values["purpose"], values["dedup_key"]


async def _insert_new(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], int]:
    """Insert the rows whose key is not queued yet (the first of a key given twice); their ids by key."""
    created: dict[tuple[str, str, str, str], int] = {}
    for start in range(0, len(rows), _CHUNK):
        result = await conn.execute(_insert(conn).values(rows[start:start + _CHUNK]).on_conflict_do_nothing(
            index_elements=_UNIQUE).returning(Notification.id, *(getattr(Notification, c) for c in _UNIQUE)))
        created.update({(r.estate, r.channel, r.purpose, r.dedup_key): r.id for r in result})
    return created


async def _existing(conn: AsyncConnection, keys: set[tuple[str, str, str, str]]) -> dict[tuple, tuple[int, str]]:
    """(id, status) of notices queued before, by key."""
    found: dict[tuple, tuple[int, str]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        rows = await conn.execute(select(Notification.id, Notification.status, *(getattr(Notification, c)
                                                                                 for c in _UNIQUE)).where(
            tuple_(*(getattr(Notification, c) for c in _UNIQUE)).in_(chunk)))
        found.update({(r.estate, r.channel, r.purpose, r.dedup_key): (r.id, r.status) for r in rows})
    return found


async def enqueue_many(conn: AsyncConnection, actor: Principal, requests: Sequence[NoticeRequest], *,
                       now: datetime | None = None) -> list[Enqueued]:
    """Queue notices in the caller's transaction, each audited; the answer is in the order given."""
    now = now or wire.utc_now()
    recipients = [_check(request) for request in requests]
    for estate in sorted({request.estate for request in requests}):
        await require_estate(conn, estate)
    await _check_owners(conn, requests)
    rows = [_values(request, recipient, now) for request, recipient in zip(requests, recipients, strict=True)]
    created = await _insert_new(conn, rows)
    earlier = await _existing(conn, {_key(row) for row in rows} - created.keys()) if len(created) < len(rows) else {}
    done, audit, names, claimed = [], [], [], set()
    for request, row in zip(requests, rows, strict=True):
        key = _key(row)
        new_id = created.get(key)
        if new_id is None or key in claimed:  # queued before, or earlier in this same call
            found_id, status = earlier[key] if new_id is None else (new_id, "queued")
            done.append(Enqueued(found_id, False, status))
            continue
        claimed.add(key)
        if request.document is not None:
            names.append({"notice_id": new_id, "name": filename_for(request.document, new_id)})
        elif request.attachment is not None:
            await attachments.store(conn, new_id, request.attachment.filename, request.attachment.content_type,
                                    request.attachment.data, now)
        done.append(Enqueued(new_id, True, "queued"))
        audit.append({"action": "notification.enqueue", "entity": "notification", "entity_id": new_id,
                      "estate": request.estate, "before": None, "after": {
                          "channel": request.channel, "recipient": row["recipient"], "purpose": request.purpose,
                          "dedup_key": request.dedup_key, "template": request.template, "unit_id": request.unit_id,
                          "resident_id": request.resident_id, "next_attempt_at": row["next_attempt_at"]}})
    if names:
        await conn.execute(update(Notification).where(Notification.id == bindparam("notice_id")).values(
            attachment_name=bindparam("name")), names)
    await record_changes(conn, actor, audit)
    return done


def notification_json(row: Any) -> dict[str, Any]:
    """A notification row as the API shows it to staff."""
    return plain(row, hide=HIDDEN)


async def _row(conn: AsyncConnection, notification_id: int) -> Any:
    row = (await conn.execute(select(Notification).where(Notification.id == notification_id))).first()
    if row is None:
        raise NotFound(f"no notification with id {notification_id}")
    return row


async def get_notification(conn: AsyncConnection, notification_id: int, *, attempts: bool = True) -> dict[str, Any]:
    """One notification (never its attachment's bytes), with its attempt log."""
    out = notification_json(await _row(conn, notification_id))
    if attempts:
        rows = (await conn.execute(select(NotificationAttempt).where(
            NotificationAttempt.notification_id == notification_id).order_by(NotificationAttempt.id))).all()
        out["attempt_log"] = [plain(r, hide=("notification_id",)) for r in rows]
    return out


async def list_notifications(conn: AsyncConnection, estate: str, *, status: str | None = None,
                             purpose: str | None = None, channel: str | None = None, unit_id: int | None = None,
                             only_units: set[int] | None = None, after: int | None = None,
                             limit: int = 100) -> list[dict[str, Any]]:
    """An estate's notifications in id order, a page at a time, filtered."""
    if status is not None and status not in STATUSES:
        raise Invalid("status", f"expected one of {', '.join(STATUSES)}, got {status!r}")
    stmt = select(Notification).where(Notification.estate == estate)
    for column, value in ((Notification.status, status), (Notification.purpose, purpose),
                          (Notification.channel, channel), (Notification.unit_id, unit_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if only_units is not None:
        stmt = stmt.where(Notification.unit_id.in_(sorted(only_units)))
    if after is not None:
        stmt = stmt.where(Notification.id > after)
    rows = (await conn.execute(stmt.order_by(Notification.id).limit(limit))).all()
    return [notification_json(r) for r in rows]


async def _change(conn: AsyncConnection, actor: Principal, notification_id: int, action: str,
                  allowed: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
    before = await get_notification(conn, notification_id, attempts=False)
    if before["status"] not in allowed:
        raise Conflict(f"notification {notification_id} is {before['status']}; only a {' or '.join(allowed)} one "
                       f"can be {action}")
    moved = await conn.execute(update(Notification).where(Notification.id == notification_id,
                                                          Notification.status == before["status"]).values(**values))
    if moved.rowcount != 1:  # a sender claimed (or finished) it between the read and the update
        now_status = (await conn.execute(select(Notification.status).where(
            Notification.id == notification_id))).scalar_one()
        raise Conflict(f"notification {notification_id} became {now_status} meanwhile; only a "
                       f"{' or '.join(allowed)} one can be {action}")
    after = await get_notification(conn, notification_id, attempts=False)
    await record_change(conn, actor, f"notification.{action}", "notification", notification_id, before["estate"],
                        {"status": before["status"], "attempts": before["attempts"]},
                        {"status": after["status"], "attempts": after["attempts"]})
    return await get_notification(conn, notification_id)


async def requeue(conn: AsyncConnection, actor: Principal, notification_id: int,
                  now: datetime | None = None) -> dict[str, Any]:
    """Queue a failed (or cancelled) notification again, due now, with a fresh count of attempts."""
    now = now or wire.utc_now()
    return await _change(conn, actor, notification_id, "requeued", ("failed_permanently", "cancelled"), dict(
        status="queued", attempts=0, next_attempt_at=now, lease_until=None, claim_token=None, updated_at=now))


async def cancel(conn: AsyncConnection, actor: Principal, notification_id: int,
                 now: datetime | None = None) -> dict[str, Any]:
    """Withdraw a notification that has not gone yet (a reminder of a bill paid meanwhile)."""
    now = now or wire.utc_now()
    return await _change(conn, actor, notification_id, "cancelled", ("queued", "failed_permanently"),
                         dict(status="cancelled", updated_at=now))


async def cancel_pending(conn: AsyncConnection, actor: Principal, estate: str, purpose: str, dedup_key: str,
                         now: datetime | None = None) -> int:
    """Cancel the queued notices of a purpose and key on any channel; returns how many (0 if they went already)."""
    ids = (await conn.execute(select(Notification.id).where(
        Notification.estate == estate, Notification.purpose == purpose, Notification.dedup_key == dedup_key,
        Notification.status == "queued"))).scalars().all()
    for notification_id in ids:
        await cancel(conn, actor, notification_id, now)
    return len(ids)


async def attachment_of(conn: AsyncConnection, notification_id: int,
                        font_file: Path | None = None) -> tuple[str, bytes]:
    """The notification's PDF (rendered and stored on first need); NotFound when it has none."""
    row = await _row(conn, notification_id)
    found = await attachments.ensure(conn, row, font_file)
    if found is None:
        raise NotFound(f"notification {notification_id} has no attachment")
    return found
