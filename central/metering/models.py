"""The metering tables: meter points (what is metered), the meters fitted there over time, readings, leak alerts.

A meter point is a position: a unit's water supply or a common area's lighting circuit. Meters come and go at
it (install, replace), each with its first and final register values; readings name the meter they were read
from, so consumption can be bridged across a replacement. Register values are exact decimals (Numeric(16,3)).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base, Id, JsonColumn

Register = Numeric(16, 3)
Time = DateTime(timezone=True)
KINDS = ("water", "electricity", "gas")
SOURCES = ("gateway", "manual", "import", "estimate")


class MeterPoint(Base):
    __tablename__ = "meter_points"
    __table_args__ = (
        UniqueConstraint("estate", "name", name="uq_meter_points_estate_name"),
        CheckConstraint("(unit_id IS NULL) <> (common_area_id IS NULL)", name="ck_meter_points_serves_one"),
        CheckConstraint("kind IN ('water', 'electricity', 'gas')", name="ck_meter_points_kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(String(64), ForeignKey("estates.code"))
    kind: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    common_area_id: Mapped[int | None] = mapped_column(ForeignKey("common_areas.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    register_limit: Mapped[Decimal] = mapped_column(Register)
    """The highest value the register shows before it wraps to zero, e.g. 99999.99."""
    resolution: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    """The register's smallest step (1, 0.1, 0.01 or 0.001): the limit's last digit."""
    max_per_day: Mapped[Decimal] = mapped_column(Register)
    """More than this a day is implausible: the period is held, not billed."""
    estimate_periods: Mapped[int] = mapped_column(Integer, default=0)
    """0: a missing reading holds the period; n: estimate from the average daily use of the last n periods."""
    leak_min_flow_per_hour: Mapped[Decimal | None] = mapped_column(Register)
    leak_nights: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Time)


class Meter(Base):
    """A physical meter fitted at a point from installed_at until removed_at (None while fitted)."""

    __tablename__ = "meters"
    __table_args__ = (
        Index("ix_meters_point_installed", "meter_point_id", "installed_at"),
        Index("uq_meters_point_fitted", "meter_point_id", unique=True,
              sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
        Index("uq_meters_device_fitted", "estate", "gateway", "device", unique=True,
              sqlite_where=text("removed_at IS NULL AND gateway IS NOT NULL"),
              postgresql_where=text("removed_at IS NULL AND gateway IS NOT NULL")),
        Index("ix_meters_estate_serial", "estate", "serial"),
        CheckConstraint("(gateway IS NULL) = (device IS NULL)", name="ck_meters_binding"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(String(64), ForeignKey("estates.code"))
    meter_point_id: Mapped[int] = mapped_column(ForeignKey("meter_points.id"))
    serial: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64), default="")
    installed_at: Mapped[datetime] = mapped_column(Time)
    removed_at: Mapped[datetime | None] = mapped_column(Time)
    first_reading: Mapped[Decimal] = mapped_column(Register)
    final_reading: Mapped[Decimal | None] = mapped_column(Register)
    gateway: Mapped[str | None] = mapped_column(String(64))
    """With device: the gateway and device id it is read through when networked."""
    device: Mapped[str | None] = mapped_column(String(64))
    register: Mapped[str | None] = mapped_column(String(64))
    """Only with a binding: the register of the device's readings that is the meter's cumulative counter, by the
    gateway's name for it; None: the well-known counters (central/metering/events.py WELL_KNOWN_COUNTERS)."""


class MeterReading(Base):
    """A cumulative register value of one meter at one instant."""

    __tablename__ = "readings"
    __table_args__ = (
        UniqueConstraint("meter_id", "at", name="uq_readings_meter_at"),
        UniqueConstraint("estate", "event_gateway", "event_seq", name="uq_readings_event"),
        Index("ix_readings_point_at", "meter_point_id", "at"),
        CheckConstraint("source IN ('gateway', 'manual', 'import', 'estimate')", name="ck_readings_source"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(String(64), ForeignKey("estates.code"))
    meter_point_id: Mapped[int] = mapped_column(ForeignKey("meter_points.id"))
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    meter_serial: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(Time)
    value: Mapped[Decimal] = mapped_column(Register)
    source: Mapped[str] = mapped_column(String(8))
    flags: Mapped[list[str]] = mapped_column(JsonColumn)
    """Quality flags (readings.FLAGS): manual, estimated and invalid count; the rest are findings at entry."""
    note: Mapped[str] = mapped_column(String(256), default="")
    """Why entered by hand, the estimate's rule, or what the meter said of its quality."""
    event_gateway: Mapped[str | None] = mapped_column(String(64))
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Time)


class LeakAlert(Base):
    """Continuous night flow at a water point; open until someone closes it."""

    __tablename__ = "leak_alerts"
    __table_args__ = (Index("ix_leak_alerts_estate_status", "estate", "status"),
                      Index("ix_leak_alerts_point", "meter_point_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(String(64), ForeignKey("estates.code"))
    meter_point_id: Mapped[int] = mapped_column(ForeignKey("meter_points.id"))
    raised_at: Mapped[datetime] = mapped_column(Time)
    nights: Mapped[list[Any]] = mapped_column(JsonColumn)
    """The nights (estate dates, YYYY-MM-DD) that showed continuous flow."""
    min_flow_per_hour: Mapped[Decimal] = mapped_column(Register)
    status: Mapped[str] = mapped_column(String(8))
    closed_at: Mapped[datetime | None] = mapped_column(Time)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256), default="")
