"""Attachments live in their own table so notification rows stay small; a notice document's PDF is rendered on
first need (when sent, or when first downloaded) and stored, so what was sent can always be shown again."""
from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.notify.document import loaded
from central.notify.errors import Invalid
from central.notify.models import Notification, NotificationAttachment
from central.notify.pdf import CONTENT_TYPE, filename_for, find_font, render_notice
from estatelink import wire

MAX_BYTES = 10 * 1024 * 1024


async def store(conn: AsyncConnection, notification_id: int, filename: str, content_type: str, data: bytes,
                now: datetime) -> None:
    """Keep the file; a file stored already (by another process rendering the same notice) wins."""
    if len(data) > MAX_BYTES:
        raise Invalid("attachment", f"{len(data)} bytes is over the {MAX_BYTES} byte limit")
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(NotificationAttachment).values(
        notification_id=notification_id, filename=filename, content_type=content_type, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), data=data, created_at=now).on_conflict_do_nothing(
        index_elements=["notification_id"]))
    await conn.execute(update(Notification).where(Notification.id == notification_id).values(
        attachment_name=filename))


async def load(conn: AsyncConnection, notification_id: int) -> tuple[str, bytes] | None:
    """(file name, bytes) of the stored attachment, if there is one."""
    row = (await conn.execute(select(NotificationAttachment.filename, NotificationAttachment.data).where(
        NotificationAttachment.notification_id == notification_id))).first()
    return None if row is None else (row.filename, bytes(row.data))


async def ensure(conn: AsyncConnection, notification: Any, font_file: Path | None) -> tuple[str, bytes] | None:
    """The notification's attachment, rendering and storing its document's PDF first if need be."""
    found = await load(conn, notification.id)
    if found is not None or notification.document is None:
        return found
    document = loaded(notification.document)
    data = await asyncio.to_thread(render_notice, document, find_font(font_file))
    name = notification.attachment_name or filename_for(document, notification.id)
    await store(conn, notification.id, name, CONTENT_TYPE, data, wire.utc_now())
    return await load(conn, notification.id)
