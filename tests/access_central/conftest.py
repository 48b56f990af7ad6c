"""Access tests run on a migrated SQLite file and on a fresh PostgreSQL database, with their own keys.

Estate demo (Asia/Shanghai): buildings 3 and 5, units 3-1201 and 5-101; residents Wang Fang (3-1201) and
Li Lei (5-101); staff member Zhao Gang; door groups block-3 (building 3), block-5 (building 5) and gates; a
schedule office; doors b3-lobby, b5-lobby and gate-in on gateway gate-1. Estate other has nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from cryptography.fernet import Fernet

from central.access import doors, groups
from central.access.signing import PASS_KEY_FILE_ENV
from central.auth.principal import Principal
from central.auth.roles import Role
from central.registry import estates, residents, staff, units
from central.registry.identity import KEY_ENV
from tests.support import database

engine = database.engine  # shared fixtures (tests/support/database.py)

OFFICE = Principal(user_id=7, username="office-zhao", role=Role.MANAGER, estates=frozenset({"demo"}))
GUARD = Principal(user_id=8, username="guard-li", role=Role.GUARD, estates=frozenset({"demo"}))


@dataclass
class Demo:
    wang: int
    li: int
    zhao: int
    units: dict[str, int]
    doors: dict[str, int]
    groups: dict[str, int]


@pytest.fixture(autouse=True)
def keys(monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    monkeypatch.setenv(PASS_KEY_FILE_ENV, str(tmp_path / "keys" / "visitor-pass.key"))


@pytest.fixture
async def demo(engine) -> Demo:
    async with engine.begin() as conn:
        for code in ("demo", "other"):
            await estates.create_estate(conn, OFFICE, estates.EstateCreate(code=code, name=code.title()))
        made = {}
        for building, number in (("3", "1201"), ("5", "101")):
            found = await estates.create_building(conn, OFFICE, "demo", estates.BuildingCreate(code=building))
            made[f"b{building}"] = found["id"]
            unit = await units.create_unit(conn, OFFICE, "demo", units.UnitCreate(
                building=building, number=number, use="residential"))
            made[f"{building}-{number}"] = unit["id"]
        people = {}
        for name, unit in (("Wang Fang", "3-1201"), ("Li Lei", "5-101")):
            person = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(name=name))
            await residents.add_occupancy(conn, OFFICE, person["id"], residents.OccupancyCreate(
                unit_id=made[unit], relation="owner", move_in=date(2020, 1, 1)))
            people[name] = person["id"]
        zhao = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(name="Zhao Gang", position="guard"))
        made_groups = {}
        for code, building in (("block-3", made["b3"]), ("block-5", made["b5"]), ("gates", None)):
            group = await groups.create_group(conn, OFFICE, "demo", groups.GroupCreate(
                code=code, name=code.title(), building_id=building))
            made_groups[code] = group["id"]
        await groups.create_schedule(conn, OFFICE, "demo", groups.ScheduleCreate(
            code="office", name="Office hours", weekly={d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed")}))
        made_doors = {}
        for code, member in (("b3-lobby", {"block-3": None}), ("b5-lobby", {"block-5": None}),
                             ("gate-in", {"gates": None, "block-3": "office"})):
            door = await doors.create_door(conn, OFFICE, "demo", doors.DoorCreate(
                code=code, gateway="gate-1", name=code.title(), readers=[f"{code}-reader"], groups=member))
            made_doors[code] = door["id"]
    return Demo(people["Wang Fang"], people["Li Lei"], zhao["id"], made, made_doors, made_groups)
