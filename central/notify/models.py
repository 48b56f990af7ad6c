"""Notify's tables: the outbox of notifications, their attachments (kept apart so rows stay small), the attempt log.

A notification is queued in the same transaction as whatever it announces (a bill and its notice commit
together). (estate, channel, purpose, dedup_key) is unique, so the same notice is never queued twice. The sender
moves it queued -> sending (a claim with a lease) -> sent, or back to queued with a later next_attempt_at, or to
failed_permanently; a 'sending' row whose lease ran out (the sender died mid-send) goes back to queued. The
attempt log is append-only: database triggers refuse UPDATE and DELETE.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (CheckConstraint, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base, Id, JsonColumn

Time = DateTime(timezone=True)
CHANNELS = ("email", "sms")
STATUSES = ("queued", "sending", "sent", "failed_permanently", "cancelled")
OUTCOMES = ("sent", "retry", "failed", "lease_expired")
ERROR_LENGTH = 500


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("estate", "channel", "purpose", "dedup_key", name="uq_notifications_dedup"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_estate_id", "estate", "id"),
        CheckConstraint("channel IN ('email', 'sms')", name="ck_notifications_channel"),
        CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed_permanently', 'cancelled')",
                        name="ck_notifications_status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(String(64), ForeignKey("estates.code"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254))
    """An e-mail address or a phone number."""
    locale: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(32))
    """bill_notice, payment_reminder, dunning_1, ...: what the notice is for (filterable)."""
    dedup_key: Mapped[str] = mapped_column(String(128))
    """The caller's name for this notice, e.g. 2026-11:unit-42: queuing it again is a no-op."""
    template: Mapped[str] = mapped_column(String(32))
    template_data: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    subject: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any] | None] = mapped_column(JsonColumn)
    """A notice document to render as the PDF attachment when it is first needed (rendering is slow)."""
    attachment_name: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Attempts since it was queued (or re-queued); counted when claimed, so a crash mid-send counts too."""
    next_attempt_at: Mapped[datetime] = mapped_column(Time)
    lease_until: Mapped[datetime | None] = mapped_column(Time)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))
    provider_id: Mapped[str | None] = mapped_column(String(256))
    """The Message-ID of an e-mail, the provider's id of an SMS."""
    created_at: Mapped[datetime] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(Time)
    sent_at: Mapped[datetime | None] = mapped_column(Time)


class NotificationAttachment(Base):
    """The PDF of a notification, exactly as it was (or will be) sent."""

    __tablename__ = "notification_attachments"

    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), primary_key=True)
    filename: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Time)


class NotificationAttempt(Base):
    """One try at sending (append-only)."""

    __tablename__ = "notification_attempts"
    __table_args__ = (CheckConstraint("outcome IN ('sent', 'retry', 'failed', 'lease_expired')",
                                      name="ck_notification_attempts_outcome"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(Time)
    finished_at: Mapped[datetime] = mapped_column(Time)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))
    worker: Mapped[str] = mapped_column(String(128))
    """host:pid of the central process that tried."""
