"""The access module's tables: the estate's doors, door groups, schedules and cards; the versioned change log
the gateways' caches are synced from; and what the gateways report back (access log, alarms, remote opens).

Wire ids (door, door group and schedule codes, card keys) use the "C" collation on PostgreSQL, so ordering
by them is byte order on both databases, which is the order the checksum needs.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base, Id, JsonColumn
from central.registry.models import EstateRef, Key

Time = DateTime(timezone=True)
CARD_STATES = ("active", "suspended", "lost", "returned")


def _estate() -> Mapped[str]:
    return mapped_column(EstateRef, ForeignKey("estates.code"))


class Door(Base):
    __tablename__ = "doors"
    __table_args__ = (UniqueConstraint("estate", "code", name="uq_doors_estate_code"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    code: Mapped[str] = mapped_column(Key(64))
    """The door id the gateways know it by (and the key of its wire record)."""
    gateway: Mapped[str] = mapped_column(String(64))
    """The gateway that drives the lock: where a remote open is sent."""
    name: Mapped[str] = mapped_column(String(128))
    readers: Mapped[list[str]] = mapped_column(JsonColumn)
    unlock_s: Mapped[int] = mapped_column(Integer)
    held_open_s: Mapped[int] = mapped_column(Integer)
    anti_passback: Mapped[dict[str, Any] | None] = mapped_column(JsonColumn)
    created_at: Mapped[datetime] = mapped_column(Time)


class DoorGroup(Base):
    __tablename__ = "door_groups"
    __table_args__ = (UniqueConstraint("estate", "code", name="uq_door_groups_estate_code"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    code: Mapped[str] = mapped_column(Key(64))
    name: Mapped[str] = mapped_column(String(128))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    """The building the group serves: its residents may issue visitor passes for it."""
    created_at: Mapped[datetime] = mapped_column(Time)


class Schedule(Base):
    __tablename__ = "access_schedules"
    __table_args__ = (UniqueConstraint("estate", "code", name="uq_access_schedules_estate_code"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    code: Mapped[str] = mapped_column(Key(64))
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    weekly: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    holidays: Mapped[list[str]] = mapped_column(JsonColumn)
    holiday_intervals: Mapped[list[Any]] = mapped_column(JsonColumn)
    created_at: Mapped[datetime] = mapped_column(Time)


class DoorGroupMember(Base):
    """A door in a group, following a schedule there (none: at all times)."""

    __tablename__ = "door_group_members"
    __table_args__ = (UniqueConstraint("door_id", "group_id", name="uq_door_group_members"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    door_id: Mapped[int] = mapped_column(ForeignKey("doors.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("door_groups.id"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("access_schedules.id"), index=True)


class Card(Base):
    """An access card and its holder. A lost card's row stays lost forever, so its key is never live again."""

    __tablename__ = "access_cards"
    __table_args__ = (
        CheckConstraint("(resident_id IS NULL) <> (staff_id IS NULL)", name="ck_access_cards_one_holder"),
        CheckConstraint("state IN ('active', 'suspended', 'lost', 'returned')", name="ck_access_cards_state"),
        Index("uq_access_cards_live", "estate", "card", unique=True,
              sqlite_where=text("state <> 'returned'"), postgresql_where=text("state <> 'returned'")),
        Index("ix_access_cards_estate_card", "estate", "card"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    card: Mapped[str] = mapped_column(Key(64))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    door_groups: Mapped[list[str]] = mapped_column(JsonColumn)
    valid_from: Mapped[datetime | None] = mapped_column(Time)
    valid_until: Mapped[datetime | None] = mapped_column(Time)
    issued_at: Mapped[datetime] = mapped_column(Time)
    issued_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(Time)
    """When it was reported lost or returned."""
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("access_cards.id"))
    note: Mapped[str] = mapped_column(String(256))


class CardHistory(Base):
    __tablename__ = "access_card_history"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    card_id: Mapped[int] = mapped_column(ForeignKey("access_cards.id"), index=True)
    at: Mapped[datetime] = mapped_column(Time)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256))


class AccessVersion(Base):
    """The estate's version: +1 with every committed change; deltas can start no earlier than `floor`."""

    __tablename__ = "access_versions"

    estate: Mapped[str] = mapped_column(EstateRef, ForeignKey("estates.code"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    floor: Mapped[int] = mapped_column(BigInteger)


class AccessChange(Base):
    """One record changed at one version: the change log deltas are built from."""

    __tablename__ = "access_changes"
    __table_args__ = (UniqueConstraint("estate", "version", "kind", "key", name="uq_access_changes"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(EstateRef)
    version: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(Key(128))
    op: Mapped[str] = mapped_column(String(8))
    record: Mapped[str | None] = mapped_column(Text)
    """The record's canonical JSON (estatelink.access_records.canonical_json); null for a delete."""
    at: Mapped[datetime] = mapped_column(Time)


class AccessRecord(Base):
    """The estate's records at its current version, as the gateways' caches should hold them."""

    __tablename__ = "access_records"

    estate: Mapped[str] = mapped_column(EstateRef, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(Key(128), primary_key=True)
    record: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(BigInteger)


class AccessLogEntry(Base):
    __tablename__ = "access_log"
    __table_args__ = (UniqueConstraint("estate", "gateway", "event_seq", name="uq_access_log_event"),
                      Index("ix_access_log_estate_at", "estate", "at"),
                      Index("ix_access_log_estate_card", "estate", "card"),
                      Index("ix_access_log_estate_door", "estate", "door"),
                      Index("ix_access_log_estate_holder", "estate", "holder_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(EstateRef)
    gateway: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(Time)
    door: Mapped[str] = mapped_column(String(128))
    reader: Mapped[str | None] = mapped_column(String(64))
    card: Mapped[str] = mapped_column(String(128))
    granted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    holder_id: Mapped[str | None] = mapped_column(String(128))
    holder_name: Mapped[str | None] = mapped_column(String(128))
    holder_kind: Mapped[str | None] = mapped_column(String(16))
    pass_id: Mapped[int | None] = mapped_column(BigInteger)


class Alarm(Base):
    __tablename__ = "alarms"
    __table_args__ = (UniqueConstraint("estate", "gateway", "event_seq", name="uq_alarms_event"),
                      Index("ix_alarms_estate_state", "estate", "state"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(EstateRef)
    gateway: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    door: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(Time)
    data: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    state: Mapped[str] = mapped_column(String(16))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(Time)
    comment: Mapped[str] = mapped_column(Text)
    commented_by: Mapped[str | None] = mapped_column(String(64))
    commented_at: Mapped[datetime | None] = mapped_column(Time)


class RemoteOpen(Base):
    __tablename__ = "remote_opens"
    __table_args__ = (Index("ix_remote_opens_estate", "estate", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    command_id: Mapped[str] = mapped_column(String(36), unique=True)
    estate: Mapped[str] = mapped_column(EstateRef)
    gateway: Mapped[str] = mapped_column(String(64))
    door_id: Mapped[int] = mapped_column(Id)
    """The door's row id when sent (kept, like the code, after the door is removed)."""
    door: Mapped[str] = mapped_column(String(128))
    seconds: Mapped[int | None] = mapped_column(Integer)
    issuer: Mapped[str] = mapped_column(String(64))
    issuer_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(256))
    sent_at: Mapped[datetime] = mapped_column(Time)
    expires_at: Mapped[datetime] = mapped_column(Time)
    status: Mapped[str] = mapped_column(String(16))
    """sent, unsent (the broker was down), then the gateway's reply: ok, expired, failed, refused, unknown."""
    detail: Mapped[str] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(Time)
    executed_at: Mapped[datetime | None] = mapped_column(Time)
    """When the gateway's `access.remote_open` event says the lock was pulsed."""


class GatewayAccessState(Base):
    """What a gateway last reported of its cache, and what central last sent it."""

    __tablename__ = "gateway_access_state"

    estate: Mapped[str] = mapped_column(EstateRef, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(64), primary_key=True)
    reported_version: Mapped[int | None] = mapped_column(BigInteger)
    reported_checksum: Mapped[str | None] = mapped_column(String(64))
    reported_synced_at: Mapped[datetime | None] = mapped_column(Time)
    reported_at: Mapped[datetime | None] = mapped_column(Time)
    sent_kind: Mapped[str | None] = mapped_column(String(16))
    sent_version: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(Time)
    reply_status: Mapped[str | None] = mapped_column(String(16))
    reply_detail: Mapped[str | None] = mapped_column(String(256))
    reply_at: Mapped[datetime | None] = mapped_column(Time)


class VisitorPass(Base):
    """A pass central signed; the id is the pass id in the signed payload (unique, below 2**32)."""

    __tablename__ = "visitor_passes"
    __table_args__ = (Index("ix_visitor_passes_estate", "estate", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    visitor_name: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256))
    doors: Mapped[list[str]] = mapped_column(JsonColumn)
    door_groups: Mapped[list[str]] = mapped_column(JsonColumn)
    valid_from: Mapped[datetime] = mapped_column(Time)
    valid_until: Mapped[datetime] = mapped_column(Time)
    single_use: Mapped[bool] = mapped_column(Boolean)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_by_id: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(Time)
    used_at: Mapped[datetime | None] = mapped_column(Time)
    used_door: Mapped[str | None] = mapped_column(String(128))
