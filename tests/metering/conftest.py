"""Metering tests run on a migrated SQLite file and on a fresh PostgreSQL database: estate demo in UTC+8."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from central.auth.principal import Principal
from central.auth.roles import Role
from central.metering import meters, points, readings
from central.registry import estates, property, units
from tests.support import database

data_key = database.data_key
engine = database.engine

OFFICE = Principal(user_id=7, username="office-zhao", role=Role.MANAGER, estates=frozenset({"demo"}))
PLUS8 = timezone(timedelta(hours=8))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time on the estate's clock (Asia/Shanghai)."""
    return datetime(year, month, day, hour, minute, tzinfo=PLUS8)


@pytest.fixture
async def demo(engine) -> dict[str, int]:
    """Estate demo (units 3-1201, 3-1202, the Lobby) and estate other (unit 1-101)."""
    made = {}
    async with engine.begin() as conn:
        for code, building, numbers in (("demo", "3", ("1201", "1202")), ("other", "1", ("101",))):
            await estates.create_estate(conn, OFFICE, estates.EstateCreate(code=code, name=code.title()))
            await estates.create_building(conn, OFFICE, code, estates.BuildingCreate(code=building))
            for number in numbers:
                unit = await units.create_unit(conn, OFFICE, code, units.UnitCreate(building=building, number=number))
                made[f"{building}-{number}"] = unit["id"]
        lobby = await property.create_common_area(conn, OFFICE, "demo", property.CommonAreaCreate(name="Lobby"))
        made["lobby"] = lobby["id"]
    return made


async def make_point(conn, unit_id: int | None, name: str, *, kind: str = "water", limit: str = "99999.99",
                     max_per_day: str = "5", **extra: Any) -> Any:
    """A meter point of demo, returned as the row the services take."""
    made = await points.create_point(conn, OFFICE, "demo", points.PointCreate(
        kind=kind, name=name, unit_id=unit_id, register_limit=limit, max_per_day=max_per_day, **extra))
    return await points.point_row(conn, made["id"])


async def fit(conn, point: Any, serial: str, at: datetime, first: str = "0", **binding: str) -> dict[str, Any]:
    return await meters.install_meter(conn, OFFICE, point, meters.MeterInstall(
        serial=serial, installed_at=at, first_reading=first, **binding))


async def read(conn, point: Any, at: datetime, value: str) -> dict[str, Any]:
    return await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=at, value=value))


def dec(value: str) -> Decimal:
    return Decimal(value)
