"""The office's search box: name, phone, unit number, plate, identity and card number, each on an index."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import insert, select, text

from central.registry import estates, residents, search, staff, vehicles
from central.registry.common import prefix_range
from central.registry.models import Resident, Vehicle
from tests.registry.conftest import OFFICE

ID_NUMBER = "11010519491231002X"


@pytest.fixture
async def people(engine, demo):
    async with engine.begin() as conn:
        async def resident(name: str, phone: str, unit: str | None, **extra) -> int:
            made = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(
                name=name, phone=phone, **extra))
            if unit:
                await residents.add_occupancy(conn, OFFICE, made["id"], residents.OccupancyCreate(
                    unit_id=demo[unit], relation="owner", move_in=date(2020, 1, 1)))
            return made["id"]

        ids = {
            "wang": await resident("Wang Fang", "138-0013-8000", "3-1201", identity_number=ID_NUMBER),
            "xiao": await resident("Xiao WANG", "13900001234", "3-1202"),
            "wxm": await resident("王小明", "+86 137 0000 8000", None),
            "li": await resident("Li Wei", "13511112222", "3-1201"),
        }
        await vehicles.create_vehicle(conn, OFFICE, ids["li"], vehicles.VehicleCreate(plate="京A·12345"))
        worker = await staff.create_staff(conn, OFFICE, "demo", staff.StaffCreate(
            name="Zhou Wang", phone="18600008000", position="guard"))
        await staff.add_card(conn, OFFICE, worker["id"], staff.CardCreate(card="0a1b2c3d4e"))
        ids["zhou"] = worker["id"]
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="other", name="Elsewhere"))
        await residents.create_resident(conn, OFFICE, "other", residents.ResidentCreate(
            name="Wang Other", phone="13800138000"))
    return ids


async def find(engine, query: str) -> list[tuple[str, int, list[str]]]:
    async with engine.connect() as conn:
        found = await search.search(conn, "demo", query)
    return [(h["type"], h["id"], h["matched"]) for h in found["hits"]]


async def test_by_name_case_insensitive_substring(engine, people):
    hits = await find(engine, "wang")
    assert ("resident", people["wang"], ["name"]) in hits and ("resident", people["xiao"], ["name"]) in hits
    assert ("staff", people["zhou"], ["name"]) in hits
    assert all(t != "resident" or i in (people["wang"], people["xiao"]) for t, i, _ in hits), "no other estate"
    assert await find(engine, "王") == [("resident", people["wxm"], ["name"])]
    assert await find(engine, "wang fang") == [("resident", people["wang"], ["name"])]
    assert await find(engine, "%") == [] and await find(engine, "_") == [], "no LIKE wildcards leak through"


async def test_by_phone_exact_or_suffix(engine, people):
    assert await find(engine, "13800138000") == [("resident", people["wang"], ["phone"])]
    assert await find(engine, "138 0013 8000") == [("resident", people["wang"], ["phone"])]
    suffix = await find(engine, "8000")
    assert {(t, i) for t, i, _ in suffix} == {("resident", people["wang"]), ("resident", people["wxm"]),
                                              ("staff", people["zhou"])}
    assert await find(engine, "000") == [], "fewer than 4 digits is no phone search"


async def test_residents_come_with_their_units(engine, people):
    async with engine.connect() as conn:
        found = await search.search(conn, "demo", "Wang Fang")
    (hit,) = found["hits"]
    assert hit["identity_number"] == "1101**********002X"
    assert [(u["building"], u["number"], u["relation"]) for u in hit["units"]] == [("3", "1201", "owner")]


async def test_by_unit_number(engine, people, demo):
    async with engine.connect() as conn:
        found = await search.search(conn, "demo", "3-1201")
    (unit,) = found["hits"]
    assert (unit["type"], unit["id"], unit["building"]) == ("unit", demo["3-1201"], "3")
    assert sorted(r["name"] for r in unit["residents"]) == ["Li Wei", "Wang Fang"]
    assert ("unit", demo["3-1202"], ["unit"]) in await find(engine, "1202")
    assert ("unit", demo["3-1201"], ["unit"]) in await find(engine, "3栋1201室")


async def test_by_plate_however_typed(engine, people):
    for typed in ("京A12345", "京a 123.45", "京A-12345", "A12345", "12345"):
        hits = await find(engine, typed)
        assert ("vehicle", hits[0][1], ["plate"]) in hits, typed
    async with engine.connect() as conn:
        found = await search.search(conn, "demo", "jinga12345")
        plate = await search.search(conn, "demo", "京A12345")
    assert found["hits"] == []
    vehicle = next(h for h in plate["hits"] if h["type"] == "vehicle")
    assert vehicle["resident_name"] == "Li Wei" and vehicle["units"][0]["number"] == "1201"


async def test_by_identity_number_and_card(engine, people):
    assert await find(engine, "11010519491231002x") == [("resident", people["wang"], ["identity_number"])]
    assert await find(engine, "11010519491231002") == []
    assert await find(engine, "0A1B2C3D4E") == [("staff", people["zhou"], ["card"])]


async def test_an_extra_searcher_can_be_registered(engine, people, monkeypatch):
    async def by_card(conn, estate, query):  # noqa: ANN001
        return [search.Hit("card", 1, ["card"], {"holder": "x"})] if query.text == "CARD-1" else []

    monkeypatch.setattr(search, "SEARCHERS", list(search.SEARCHERS))
    search.register_searcher(by_card)
    assert await find(engine, "CARD-1") == [("card", 1, ["card"])]


async def test_phone_and_plate_searches_use_their_indexes(engine, people):
    """The key columns compare bytes on both databases, so a suffix search is an index range."""
    async with engine.begin() as conn:
        await conn.execute(insert(Resident), [
            {"estate": "demo", "name": f"r{i}", "name_key": f"r{i}", "phone": f"139{i:08d}",
             "phone_rev": f"139{i:08d}"[::-1], "email": "", "notes": "", "created_at": datetime.now(timezone.utc)}
            for i in range(3000)])
        await conn.execute(insert(Vehicle), [
            {"estate": "demo", "resident_id": people["li"], "plate": f"沪B{i:05d}", "plate_key": f"沪B{i:05d}",
             "plate_rev": f"沪B{i:05d}"[::-1], "description": ""} for i in range(3000)])
        await conn.execute(text("ANALYZE"))
    async with engine.connect() as conn:
        for stmt, index in (
                (select(Resident.id).where(Resident.estate == "demo", prefix_range(Resident.phone_rev, "0008")),
                 "ix_residents_estate_phone_rev"),
                (select(Vehicle.id).where(Vehicle.estate == "demo", prefix_range(Vehicle.plate_rev, "54321")),
                 "ix_vehicles_estate_plate_rev")):
            sql = str(stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
            if conn.dialect.name == "postgresql":
                plan = "\n".join(r[0] for r in (await conn.execute(text("EXPLAIN " + sql))).all())
            else:
                plan = "\n".join(str(r[-1]) for r in (await conn.execute(text("EXPLAIN QUERY PLAN " + sql))).all())
            assert index in plan, plan
