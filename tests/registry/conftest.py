"""Registry tests run on a migrated SQLite file and on a fresh PostgreSQL database, with a data key per test."""
from __future__ import annotations

import pytest

from central.auth.principal import Principal
from central.auth.roles import Role
from central.registry import estates, units
from tests.support import database

data_key = database.data_key
engine = database.engine

OFFICE = Principal(user_id=7, username="office-zhao", role=Role.MANAGER, estates=frozenset({"demo"}))


@pytest.fixture
async def demo(engine):
    """Estate demo with buildings 3 and 5, units 3-1201, 3-1202 and 5-101 (a shop)."""
    async with engine.begin() as conn:
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="demo", name="Demo Gardens 演示花园"))
        for code in ("3", "5"):
            await estates.create_building(conn, OFFICE, "demo", estates.BuildingCreate(code=code, floors=18))
        made = {}
        for building, number, floor in (("3", "1201", 12), ("3", "1202", 12), ("5", "101", 1)):
            unit = await units.create_unit(conn, OFFICE, "demo", units.UnitCreate(
                building=building, number=number, floor=floor, layout="3室2厅", built_area="120.50",
                usable_area="98.25", use="shop" if building == "5" else "residential"))
            made[f"{building}-{number}"] = unit["id"]
    return made
