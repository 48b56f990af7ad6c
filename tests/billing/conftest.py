"""Billing tests run on a migrated SQLite file and on a fresh PostgreSQL database: estate demo in Asia/Shanghai.

Units of building 3: 1201 (100.00 m², 4 people), 1202 (80.50 m², 6 people), 1203 (60.00 m²); a Lobby common
area with its own electricity meter; estate other with unit 1-101 for confinement checks.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from central.auth.principal import Principal
from central.auth.roles import Role
from central.billing import items, runs
from central.billing.models import Posting
from central.metering import meters, points, readings
from central.registry import estates, property, residents, units
from tests.support import database

data_key = database.data_key
engine = database.engine

OFFICE = Principal(user_id=7, username="office-zhao", role=Role.MANAGER, estates=frozenset({"demo"}))
PLUS8 = timezone(timedelta(hours=8))
WATER_TIERS = {"unit": "m³", "tiers": [{"start": "0", "price": "3.45"}, {"start": "180", "price": "4.83"},
                                       {"start": "260", "price": "5.83"}],
               "household": {"base_members": 4, "per_extra_member": ["30", "30"]}}


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A time on the estate's clock."""
    return datetime(year, month, day, hour, tzinfo=PLUS8)


def dec(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture
async def api(engine, demo):
    """Billing's routes in a test server, with a token per role (see tests/billing/api.py)."""
    from tests.billing.api import Api, make_api

    client, tokens = await make_api(engine, demo)
    async with client:
        yield Api(client, tokens)


@pytest.fixture
async def public_api(engine, demo):
    """Billing's routes without accounts (the webhook needs none)."""
    from tests.billing.api import Api, make_api

    client, tokens = await make_api(engine, demo, users=())
    async with client:
        yield Api(client, tokens)


@pytest.fixture
async def demo(engine) -> dict[str, int]:
    """The estates, units and the Lobby; returns ids by label."""
    made = {}
    async with engine.begin() as conn:
        for code, building, numbers in (("demo", "3", (("1201", "100.00"), ("1202", "80.50"), ("1203", "60.00"))),
                                        ("other", "1", (("101", "90.00"),))):
            await estates.create_estate(conn, OFFICE, estates.EstateCreate(code=code, name=code.title()))
            await estates.create_building(conn, OFFICE, code, estates.BuildingCreate(code=building))
            for number, area in numbers:
                unit = await units.create_unit(conn, OFFICE, code, units.UnitCreate(
                    building=building, number=number, built_area=area))
                made[f"{building}-{number}"] = unit["id"]
        lobby = await property.create_common_area(conn, OFFICE, "demo", property.CommonAreaCreate(name="Lobby"))
        made["lobby"] = lobby["id"]
    return made


@pytest.fixture
async def people(engine, demo) -> dict[str, int]:
    """Owners of 3-1201 (e-mail and phone) and 3-1202 (phone only), a tenant of 3-1203 (e-mail only)."""
    made = {}
    async with engine.begin() as conn:
        for key, unit, relation, name, email, phone in (
                ("zhang", "3-1201", "owner", "张三", "zhang.san@example.com", "13800138000"),
                ("li", "3-1202", "owner", "李四", "", "139 0013 9000"),
                ("wang", "3-1203", "tenant", "王五", "wang.wu@example.com", "")):
            resident = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(
                name=name, email=email, phone=phone))
            await residents.add_occupancy(conn, OFFICE, resident["id"], residents.OccupancyCreate(
                unit_id=demo[unit], relation=relation, move_in=date(2020, 1, 1)))
            made[key] = resident["id"]
    return made


async def add_item(conn, code: str, kind: str, parameters: dict[str, Any], *, effective_from: date = date(2025, 1, 1),
                   version: str = "2025", meter_kind: str | None = None, scope: str = "all",
                   estate: str = "demo") -> dict[str, Any]:
    """A fee item with its first rule version."""
    item = await items.create_item(conn, OFFICE, estate, items.ItemCreate(
        code=code, name=code.replace("-", " ").title(), kind=kind, meter_kind=meter_kind, scope=scope))
    await items.create_rule(conn, OFFICE, item["id"], items.RuleCreate(
        version=version, effective_from=effective_from, parameters=parameters))
    return item


async def meter_point(conn, name: str, *, unit_id: int | None = None, common_area_id: int | None = None,
                      kind: str = "water", first: str = "0", since: datetime = local(2024, 12, 1),
                      max_per_day: str = "50", estimate_periods: int = 0) -> Any:
    """A point with a meter fitted since `since` reading `first`."""
    made = await points.create_point(conn, OFFICE, "demo", points.PointCreate(
        kind=kind, name=name, unit_id=unit_id, common_area_id=common_area_id, register_limit="99999.99",
        max_per_day=max_per_day, estimate_periods=estimate_periods))
    point = await points.point_row(conn, made["id"])
    await meters.install_meter(conn, OFFICE, point, meters.MeterInstall(
        serial=f"S-{name}", installed_at=since, first_reading=first))
    return point


async def read(conn, point: Any, at: datetime, value: str) -> None:
    await readings.add_manual(conn, OFFICE, point, readings.ManualReading(at=at, value=value))


async def post_run(engine, period: str, mode: str = "post") -> tuple[int, runs.Outcome]:
    return await runs.execute(engine, OFFICE, "demo", period, mode)


async def postings_of(engine, unit_id: int) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Posting).where(Posting.unit_id == unit_id)
                                        .order_by(Posting.id))).all())


async def setup_march(engine, demo) -> dict[str, object]:
    """Property fee, tiered water, parking, a fixed fee and the Lobby's power shared by area, read for March."""
    async with engine.begin() as conn:
        await add_item(conn, "property", "area", {"rate": "2.50"})
        water = await add_item(conn, "water", "usage_tiered", WATER_TIERS, meter_kind="water")
        await add_item(conn, "parking", "parking_monthly", {"monthly_fee": "300.00"})
        await add_item(conn, "garbage", "fixed", {"amount": "15.00"})
        await property.create_parking(conn, OFFICE, "demo", property.ParkingCreate(
            code="P-001", kind="owned", unit_id=demo["3-1201"]))
        lobby = await meter_point(conn, "lobby-power", common_area_id=demo["lobby"], kind="electricity",
                                  first="1000", max_per_day="500")
        await add_item(conn, "lobby-power", "shared_allocation", {"meter_point_ids": [lobby.id],
                                                                 "unit_price": "0.85", "basis": "area"})
        await read(conn, lobby, local(2025, 3, 1), "1000.0")
        await read(conn, lobby, local(2025, 4, 1), "2234.5")
        made = {}
        for unit, start, end in (("3-1201", "100", "130"), ("3-1202", "50", "62"), ("3-1203", "10", None)):
            point = await meter_point(conn, f"{unit}-water", unit_id=demo[unit], first=start)
            await read(conn, point, local(2025, 3, 1), start)
            if end is not None:
                await read(conn, point, local(2025, 4, 1), end)
            made[unit] = point
    return {"water": water, "points": made}
