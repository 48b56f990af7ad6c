"""Residents, their occupancies and vehicles; identity numbers protected at rest and masked in every answer."""
from __future__ import annotations

import logging
import os
import stat
from datetime import date, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text

from central.auth.models import AuditEntry
from central.registry import identity, residents, vehicles
from central.registry.errors import Conflict, Invalid, NotFound
from central.registry.models import Resident
from tests.registry.conftest import OFFICE

ID_NUMBER = "11010519491231002X"  # the GB 11643 example: a valid check digit


async def test_resident_crud(engine, demo):
    async with engine.begin() as conn:
        made = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(
            name="王小明", phone="138 0013 8000", email="wang@example.com", notes="prefers SMS"))
        assert made["name"] == "王小明" and made["identity_number"] is None
        assert "name_key" not in made and "phone_rev" not in made and "identity_cipher" not in made
        changed = await residents.update_resident(conn, OFFICE, made["id"], residents.ResidentUpdate(
            email="xm.wang@example.com", notes=""))
        assert changed["email"] == "xm.wang@example.com" and changed["phone"] == "138 0013 8000"
        contact = await residents.update_resident(conn, OFFICE, made["id"], residents.ContactUpdate(phone="13900139000"))
        assert contact["phone"] == "13900139000"
        assert [r["id"] for r in await residents.list_residents(conn, "demo")] == [made["id"]]
        await residents.delete_resident(conn, OFFICE, made["id"])
        with pytest.raises(NotFound, match=f"no resident with id {made['id']}"):
            await residents.get_resident(conn, made["id"])
    with pytest.raises(ValidationError, match="phone"):
        residents.ResidentCreate(name="x", phone="call me maybe")
    with pytest.raises(ValidationError, match="e-mail"):
        residents.ContactUpdate(email="not-an-address")
    with pytest.raises(ValidationError, match="extra"):
        residents.ContactUpdate(name="Mallory")


async def test_history_survives_moving_out(engine, demo):
    today = date.today()
    async with engine.begin() as conn:
        owner = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(name="Li Wei"))
        tenant = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(name="Zhang San"))
        first = await residents.add_occupancy(conn, OFFICE, tenant["id"], residents.OccupancyCreate(
            unit_id=demo["3-1201"], relation="tenant", move_in=today - timedelta(days=400)))
        await residents.add_occupancy(conn, OFFICE, owner["id"], residents.OccupancyCreate(
            unit_id=demo["3-1201"], relation="owner", move_in=date(2015, 5, 1)))
        with pytest.raises(Conflict, match="already lives in this unit"):
            await residents.add_occupancy(conn, OFFICE, tenant["id"], residents.OccupancyCreate(
                unit_id=demo["3-1201"], relation="tenant", move_in=today - timedelta(days=10)))
        with pytest.raises(Invalid, match="move_out: .* is before the move-in"):
            await residents.move_out(conn, OFFICE, first["id"], residents.MoveOut(move_out=date(2000, 1, 1)))

        ended = await residents.move_out(conn, OFFICE, first["id"], residents.MoveOut(move_out=today - timedelta(days=30)))
        assert ended["move_out"] == today - timedelta(days=30) and ended["current"] is False
        with pytest.raises(Conflict, match="already ended"):
            await residents.move_out(conn, OFFICE, first["id"], residents.MoveOut(move_out=today))
        with pytest.raises(Conflict, match="occupancy history"):
            await residents.delete_resident(conn, OFFICE, tenant["id"])
        moved_to = await residents.add_occupancy(conn, OFFICE, tenant["id"], residents.OccupancyCreate(
            unit_id=demo["3-1202"], relation="tenant", move_in=today - timedelta(days=29)))

        history = (await residents.get_resident(conn, tenant["id"]))["occupancies"]
        assert [(o["building"], o["number"], o["current"]) for o in history] == [
            ("3", "1201", False), ("3", "1202", True)], "the old tenancy is still on record"
        assert await residents.units_of_resident(conn, tenant["id"]) == {demo["3-1202"]}
        living = await residents.list_occupancies(conn, unit_id=demo["3-1201"], current_only=True)
        assert [o["resident_name"] for o in living] == ["Li Wei"]
        assert moved_to["current"] is True
        with pytest.raises(Invalid, match="unit_id: estate 'demo' has no unit with id 4242"):
            await residents.add_occupancy(conn, OFFICE, owner["id"], residents.OccupancyCreate(
                unit_id=4242, relation="family", move_in=today))
    with pytest.raises(ValidationError, match="move_out 2020-01-01 is before move_in 2021-01-01"):
        residents.OccupancyCreate(unit_id=1, relation="owner", move_in="2021-01-01", move_out="2020-01-01")
    with pytest.raises(ValidationError, match="relation"):
        residents.OccupancyCreate(unit_id=1, relation="landlord", move_in="2021-01-01")


async def test_identity_numbers_are_encrypted_at_rest_and_masked(engine, demo):
    async with engine.begin() as conn:
        made = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(
            name="Chen Jing", identity_number="110105 19491231 002x"))
        assert made["identity_number"] == "1101**********002X"
        raw = (await conn.execute(text("SELECT identity_cipher, identity_hmac, identity_masked FROM residents "
                                       "WHERE id = :id"), {"id": made["id"]})).one()
        assert ID_NUMBER not in raw.identity_cipher and "19491231" not in raw.identity_cipher
        assert identity.reveal(raw.identity_cipher) == ID_NUMBER
        assert raw.identity_hmac == identity.digest(ID_NUMBER) and ID_NUMBER not in raw.identity_hmac
        with pytest.raises(Conflict, match="identity_number: resident .* already has this identity number"):
            await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(
                name="Someone Else", identity_number=ID_NUMBER))
        cleared = await residents.update_resident(conn, OFFICE, made["id"],
                                                  residents.ResidentUpdate(identity_number=None))
        assert cleared["identity_number"] is None
        row = (await conn.execute(select(Resident).where(Resident.id == made["id"]))).one()
        assert row.identity_cipher is None and row.identity_hmac is None
        entries = (await conn.execute(select(AuditEntry).where(AuditEntry.entity == "resident"))).all()
    assert all(ID_NUMBER not in repr(e.before) + repr(e.after) for e in entries), "the audit log holds no number"
    with pytest.raises(ValidationError, match="check digit"):
        residents.ResidentCreate(name="x", identity_number="110105194912310021")
    assert ID_NUMBER not in repr(residents.ResidentCreate(name="x", identity_number=ID_NUMBER))


def test_masking_and_normalising():
    assert identity.mask("11010519491231002X") == "1101**********002X"
    assert identity.mask("E12345678") == "E1*****78"
    assert identity.mask("123456") == "****56"
    assert identity.validate("１１０１０５１９４９１２３１００２ｘ") == ID_NUMBER
    assert identity.validate("G12345678") == "G12345678"
    with pytest.raises(ValueError, match="6 to 32 letters and digits"):
        identity.validate("12-34")


def test_key_file_is_made_once_with_mode_0600(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(identity.KEY_ENV)
    monkeypatch.setenv(identity.KEY_FILE_ENV, str(tmp_path / "var" / "data.key"))
    monkeypatch.setattr(identity, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="central.registry.identity"):
        protected = identity.protect(ID_NUMBER)
        identity.protect("G12345678")
    key_file = tmp_path / "var" / "data.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "ESTATELINK_DATA_KEY is not set" in caplog.records[0].message
    assert identity.reveal(protected.cipher) == ID_NUMBER
    monkeypatch.setenv(identity.KEY_ENV, "too-short")
    with pytest.raises(identity.DataKeyError, match="ESTATELINK_DATA_KEY: expected 32 bytes"):
        identity.protect(ID_NUMBER)


async def test_vehicles(engine, demo):
    async with engine.begin() as conn:
        owner = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(name="Li Wei"))
        other = await residents.create_resident(conn, OFFICE, "demo", residents.ResidentCreate(name="Zhao Liu"))
        car = await vehicles.create_vehicle(conn, OFFICE, owner["id"], vehicles.VehicleCreate(
            plate="京a·12345", description="white Tesla"))
        assert car["plate"] == "京A12345" and car["resident_name"] == "Li Wei" and "plate_key" not in car
        with pytest.raises(Conflict, match="plate: 京A12345 is already registered"):
            await vehicles.create_vehicle(conn, OFFICE, other["id"], vehicles.VehicleCreate(plate="京A 123.45"))
        given = await vehicles.update_vehicle(conn, OFFICE, car["id"], vehicles.VehicleUpdate(resident_id=other["id"]))
        assert given["resident_name"] == "Zhao Liu"
        with pytest.raises(Invalid, match="resident_id"):
            await vehicles.update_vehicle(conn, OFFICE, car["id"], vehicles.VehicleUpdate(resident_id=999))
        assert [v["plate"] for v in await vehicles.list_vehicles(conn, "demo", only_residents={owner["id"]})] == []
        assert (await residents.get_resident(conn, other["id"]))["vehicles"][0]["plate"] == "京A12345"
        with pytest.raises(Conflict, match="has vehicles"):
            await residents.delete_resident(conn, OFFICE, other["id"])
        await vehicles.delete_vehicle(conn, OFFICE, car["id"])
        assert await vehicles.list_vehicles(conn, "demo") == []
    with pytest.raises(ValidationError, match="plate"):
        vehicles.VehicleCreate(plate="!")
