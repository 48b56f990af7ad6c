"""Estates, buildings, units, parking spaces and common areas: create, read, update, delete, on both databases."""
from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from central.auth.models import AuditEntry
from central.registry import estates, property, residents, units
from central.registry.errors import Conflict, Invalid, NotFound
from tests.registry.conftest import OFFICE


async def test_estate_create_read_update(engine):
    async with engine.begin() as conn:
        made = await estates.create_estate(conn, OFFICE, estates.EstateCreate(
            code="north-park", name="North Park 北苑", address="1 North Road"))
        assert made["timezone"] == "Asia/Shanghai" and made["created_at"].tzinfo is not None
        with pytest.raises(Conflict, match="already exists"):
            await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="north-park", name="again"))
        changed = await estates.update_estate(conn, OFFICE, "north-park", estates.EstateUpdate(name="North Park"))
        assert changed["name"] == "North Park" and changed["address"] == "1 North Road"
        assert [e["code"] for e in await estates.list_estates(conn, None)] == ["north-park"]
        assert await estates.list_estates(conn, frozenset({"south"})) == []
        with pytest.raises(NotFound):
            await estates.get_estate(conn, "south")
    with pytest.raises(ValidationError, match="pattern"):
        estates.EstateCreate(code="North Park", name="x")
    with pytest.raises(ValidationError, match="IANA time zone"):
        estates.EstateCreate(code="x", name="x", timezone="Mars/Olympus")


async def test_buildings(engine, demo):
    async with engine.begin() as conn:
        listed = await estates.list_buildings(conn, "demo")
        assert [(b["code"], b["units"]) for b in listed] == [("3", 2), ("5", 1)]
        extra = await estates.create_building(conn, OFFICE, "demo", estates.BuildingCreate(code="9", name="九栋"))
        with pytest.raises(Conflict, match="code: estate 'demo' already has a building '3'"):
            await estates.update_building(conn, OFFICE, extra["id"], estates.BuildingUpdate(code="3"))
        renamed = await estates.update_building(conn, OFFICE, extra["id"], estates.BuildingUpdate(code="9A", floors=None))
        assert renamed["code"] == "9A" and renamed["floors"] is None
        with pytest.raises(Conflict, match="has 2 unit"):
            await estates.delete_building(conn, OFFICE, listed[0]["id"])
        await estates.delete_building(conn, OFFICE, extra["id"])
        with pytest.raises(NotFound):
            await estates.get_building(conn, extra["id"])


async def test_units_crud_with_decimal_areas(engine, demo):
    async with engine.begin() as conn:
        unit = await units.get_unit(conn, demo["3-1201"])
        assert unit["building"] == "3" and unit["layout"] == "3室2厅" and unit["status"] == "vacant"
        assert unit["built_area"] == Decimal("120.50") and isinstance(unit["usable_area"], Decimal)
        with pytest.raises(Conflict, match="number: the building already has a unit '1202'"):
            await units.create_unit(conn, OFFICE, "demo", units.UnitCreate(building="3", number="1202"))
        with pytest.raises(Invalid, match="building: estate 'demo' has no building '7'"):
            await units.create_unit(conn, OFFICE, "demo", units.UnitCreate(building="7", number="1"))
        same_number = await units.create_unit(conn, OFFICE, "demo", units.UnitCreate(building="5", number="1201"))
        assert same_number["building"] == "5", "a unit number is unique per building, not per estate"

        changed = await units.update_unit(conn, OFFICE, demo["3-1201"], units.UnitUpdate(
            status="let", built_area=Decimal("121.00")))
        assert changed["status"] == "let" and changed["built_area"] == Decimal("121.00")
        with pytest.raises(Invalid, match="usable_area: 130.00 is larger than built_area 121.00"):
            await units.update_unit(conn, OFFICE, demo["3-1201"], units.UnitUpdate(usable_area=Decimal("130.00")))
        with pytest.raises(Invalid, match="status: may not be null"):
            await units.update_unit(conn, OFFICE, demo["3-1201"], units.UnitUpdate(status=None))
        moved = await units.update_unit(conn, OFFICE, demo["3-1202"], units.UnitUpdate(building="5", number="102"))
        assert (moved["building"], moved["number"]) == ("5", "102")

        listed = await units.list_units(conn, "demo", building="3")
        assert [u["number"] for u in listed] == ["1201"]
        page = await units.list_units(conn, "demo", limit=2)
        rest = await units.list_units(conn, "demo", after=page[-1]["id"])
        assert len(page) == 2 and len(rest) == 2

        await units.delete_unit(conn, OFFICE, same_number["id"])
        with pytest.raises(NotFound):
            await units.get_unit(conn, same_number["id"])
    with pytest.raises(ValidationError, match="usable_area 99 is larger than built_area 80"):
        units.UnitCreate(building="3", number="1", built_area=80, usable_area=99)
    with pytest.raises(ValidationError, match="use"):
        units.UnitCreate(building="3", number="1", use="warehouse")
    with pytest.raises(ValidationError, match="decimal places"):
        units.UnitCreate(building="3", number="1", built_area="80.555")


async def test_a_unit_anyone_lived_in_is_not_deleted(engine, demo):
    async with engine.begin() as conn:
        person = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(name="Li Wei"))
        await residents.add_occupancy(conn, OFFICE, person["id"], residents.OccupancyCreate(
            unit_id=demo["3-1201"], relation="owner", move_in="2020-01-01"))
        with pytest.raises(Conflict, match="occupancy history"):
            await units.delete_unit(conn, OFFICE, demo["3-1201"])


async def test_parking_spaces(engine, demo):
    async with engine.begin() as conn:
        owned = await property.create_parking(conn, OFFICE, "demo", property.ParkingCreate(
            code="B1-017", kind="owned", unit_id=demo["3-1201"]))
        visitor = await property.create_parking(conn, OFFICE, "demo", property.ParkingCreate(code="V-01",
                                                                                             kind="temporary"))
        assert owned["unit_id"] == demo["3-1201"] and visitor["unit_id"] is None
        with pytest.raises(Conflict, match="code: estate 'demo' already has a parking space 'V-01'"):
            await property.create_parking(conn, OFFICE, "demo", property.ParkingCreate(code="V-01", kind="rented"))
        with pytest.raises(Invalid, match="unit_id: estate 'demo' has no unit with id 999"):
            await property.update_parking(conn, OFFICE, visitor["id"], property.ParkingUpdate(unit_id=999))
        rented = await property.update_parking(conn, OFFICE, owned["id"], property.ParkingUpdate(kind="rented",
                                                                                                 unit_id=None))
        assert rented["kind"] == "rented" and rented["unit_id"] is None
        assert [p["code"] for p in await property.list_parking(conn, "demo")] == ["B1-017", "V-01"]
        assert await property.list_parking(conn, "demo", only_units={demo["3-1201"]}) == []
        await property.delete_parking(conn, OFFICE, visitor["id"])
        assert [p["code"] for p in await property.list_parking(conn, "demo", kind="temporary")] == []


async def test_common_areas(engine, demo):
    async with engine.begin() as conn:
        garden = await property.create_common_area(conn, OFFICE, "demo", property.CommonAreaCreate(
            name="Central garden 中心花园", area="1520.75"))
        assert garden["area"] == Decimal("1520.75")
        with pytest.raises(Conflict, match="name"):
            await property.create_common_area(conn, OFFICE, "demo", property.CommonAreaCreate(name="Central garden 中心花园"))
        changed = await property.update_common_area(conn, OFFICE, garden["id"], property.CommonAreaUpdate(
            note="lawn and pond", area=None))
        assert changed["note"] == "lawn and pond" and changed["area"] is None
        await property.delete_common_area(conn, OFFICE, garden["id"])
        assert await property.list_common_areas(conn, "demo") == []


async def test_every_change_is_audited(engine, demo):
    async with engine.begin() as conn:
        await units.update_unit(conn, OFFICE, demo["3-1201"], units.UnitUpdate(status="renovating"))
        rows = (await conn.execute(select(AuditEntry).where(AuditEntry.entity == "unit")
                                   .order_by(AuditEntry.id))).all()
    assert [r.action for r in rows] == ["unit.create"] * 3 + ["unit.update"]
    last = rows[-1]
    assert (last.actor, last.estate, last.entity_id) == ("office-zhao", "demo", str(demo["3-1201"]))
    assert last.before["status"] == "vacant" and last.after["status"] == "renovating"
    assert last.after["built_area"] == "120.50", "decimals reach the audit log as exact strings"
