"""The registry's tables. Search keys (name_key, phone_rev, plate_key, ...) are derived columns kept by the services.

Key columns use the "C" collation on PostgreSQL (SQLite compares bytes already), so a prefix becomes an
index range on both databases: a phone suffix is a prefix of the reversed digits.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        Numeric, String, Text, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base, Id

Area = Numeric(12, 2)
EstateRef = String(64)


def Key(length: int) -> String:  # noqa: N802 - a column type factory
    """A search-key string ordered by bytes on both databases."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _estate_fk() -> Mapped[str]:
    return mapped_column(EstateRef, ForeignKey("estates.code"))


class Estate(Base):
    __tablename__ = "estates"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The gateway's estate id on the wire (^[a-z0-9][a-z0-9_-]{0,63}$)."""
    name: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(256), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    """The estate's local time zone: attendance days are the estate's days, not UTC days."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("estate", "code", name="uq_buildings_estate_code"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128), default="")
    floors: Mapped[int | None] = mapped_column(Integer)


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("building_id", "number", name="uq_units_building_number"),
                      Index("ix_units_estate_number", "estate", "number"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    number: Mapped[str] = mapped_column(String(32))
    floor: Mapped[int | None] = mapped_column(Integer)
    layout: Mapped[str] = mapped_column(String(32), default="")
    """户型, e.g. 3室2厅."""
    built_area: Mapped[Decimal | None] = mapped_column(Area)
    usable_area: Mapped[Decimal | None] = mapped_column(Area)
    use: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))


class ParkingSpace(Base):
    __tablename__ = "parking_spaces"
    __table_args__ = (UniqueConstraint("estate", "code", name="uq_parking_estate_code"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    code: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)


class CommonArea(Base):
    __tablename__ = "common_areas"
    __table_args__ = (UniqueConstraint("estate", "name", name="uq_common_areas_estate_name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    name: Mapped[str] = mapped_column(String(128))
    area: Mapped[Decimal | None] = mapped_column(Area)
    note: Mapped[str] = mapped_column(String(256), default="")


class Resident(Base):
    __tablename__ = "residents"
    __table_args__ = (Index("ix_residents_estate_name_key", "estate", "name_key"),
                      Index("ix_residents_estate_phone_rev", "estate", "phone_rev"),
                      Index("ix_residents_identity_hmac", "identity_hmac",  # most rows may have none
                            sqlite_where=text("identity_hmac IS NOT NULL"),
                            postgresql_where=text("identity_hmac IS NOT NULL")))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(Key(64))
    phone: Mapped[str] = mapped_column(String(32), default="")
    phone_rev: Mapped[str] = mapped_column(Key(32), default="")
    email: Mapped[str] = mapped_column(String(128), default="")
    identity_cipher: Mapped[str | None] = mapped_column(Text)
    """Fernet token of the identity number; never returned by the API."""
    identity_hmac: Mapped[str | None] = mapped_column(String(64))
    identity_masked: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Occupancy(Base):
    """Who lives in which unit, and when. Rows are never deleted: moving out sets move_out."""

    __tablename__ = "occupancies"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    move_in: Mapped[date] = mapped_column(Date)
    move_out: Mapped[date | None] = mapped_column(Date)


class Vehicle(Base):
    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("estate", "plate_key", name="uq_vehicles_estate_plate"),
                      Index("ix_vehicles_estate_plate_rev", "estate", "plate_rev"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16))
    plate_key: Mapped[str] = mapped_column(Key(16))
    plate_rev: Mapped[str] = mapped_column(Key(16))
    description: Mapped[str] = mapped_column(String(128), default="")


class Staff(Base):
    __tablename__ = "staff"
    __table_args__ = (Index("ix_staff_estate_name_key", "estate", "name_key"),
                      Index("ix_staff_estate_phone_rev", "estate", "phone_rev"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(Key(64))
    phone: Mapped[str] = mapped_column(String(32), default="")
    phone_rev: Mapped[str] = mapped_column(Key(32), default="")
    position: Mapped[str] = mapped_column(String(64), default="")
    shift: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_on: Mapped[date | None] = mapped_column(Date)
    """The first working day: earlier days of the attendance sheet are not absences."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StaffCard(Base):
    """A card a staff member taps at attendance points (resident cards belong to the access module)."""

    __tablename__ = "staff_cards"
    __table_args__ = (UniqueConstraint("estate", "card", name="uq_staff_cards_estate_card"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    card: Mapped[str] = mapped_column(Key(64))


class AttendancePoint(Base):
    """A reader whose card taps are clock-ins/outs: direction in, out, or toggle (alternate per person)."""

    __tablename__ = "attendance_points"
    __table_args__ = (UniqueConstraint("estate", "gateway", "device", name="uq_attendance_points_device"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    gateway: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(128), default="")


class AttendanceRecord(Base):
    __tablename__ = "attendance_records"
    __table_args__ = (UniqueConstraint("staff_id", "gateway", "event_seq", name="uq_attendance_event"),
                      Index("ix_attendance_staff_at", "staff_id", "at"),
                      Index("ix_attendance_estate_at", "estate", "at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(4))
    source: Mapped[str] = mapped_column(String(8))
    device: Mapped[str | None] = mapped_column(String(64))
    gateway: Mapped[str | None] = mapped_column(String(64))
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(256), default="")


class PerformanceRecord(Base):
    __tablename__ = "performance_records"
    __table_args__ = (UniqueConstraint("staff_id", "period", "metric", name="uq_performance_staff_period_metric"),
                      Index("ix_performance_estate_period", "estate", "period"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate_fk()
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    period: Mapped[str] = mapped_column(String(7))
    """YYYY-MM."""
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[Decimal] = mapped_column(Area)
    note: Mapped[str] = mapped_column(Text, default="")


class HolderPhoto(Base):
    """The photo of a resident or member of staff (an access card's holder), shown to guards beside each tap.

    One per holder, replaced whole. Bytes live in the database so backups carry them; 512 KiB at most."""

    __tablename__ = "holder_photos"
    __table_args__ = (CheckConstraint("holder_kind IN ('resident', 'staff')", name="ck_holder_photos_kind"),
                      Index("ix_holder_photos_estate", "estate"))

    holder_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """residents.id or staff.id, as holder_kind says."""
    estate: Mapped[str] = _estate_fk()
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    """Hex digest of data: the ETag, and what the audit log keeps instead of the bytes."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
