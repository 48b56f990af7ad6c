"""Residents (业主信息: owners, family, tenants) and their occupancies; history survives moving out."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry import identity, photos
from central.registry.common import (Body, Email, Name, Phone, RecordId, audit, changes, load, name_key, phone_rev,
                                     plain, require_estate)
from central.registry.errors import Conflict, Invalid
from central.registry.estates import estate_today
from central.registry.models import Building, Occupancy, Resident, Unit, Vehicle
from estatelink import wire

Relation = Literal["owner", "family", "tenant"]
IdentityNumber = Annotated[str, StringConstraints(max_length=64), AfterValidator(identity.validate)]
Notes = Annotated[str, StringConstraints(max_length=2000)]
HIDDEN = ("name_key", "phone_rev", "identity_cipher", "identity_hmac", "identity_masked")


class ResidentCreate(Body):
    name: Name
    phone: Phone = ""
    email: Email = ""
    identity_number: IdentityNumber | None = Field(None, repr=False)
    notes: Notes = ""


class ResidentUpdate(Body):
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    identity_number: IdentityNumber | None = Field(None, repr=False)
    """null removes the stored number."""
    notes: Notes | None = None


class ContactUpdate(Body):
    """What residents may change themselves."""

    phone: Phone | None = None
    email: Email | None = None


class OccupancyCreate(Body):
    unit_id: RecordId
    relation: Relation
    move_in: date
    move_out: date | None = None

    @model_validator(mode="after")
    def _order(self) -> "OccupancyCreate":
        if self.move_out is not None and self.move_out < self.move_in:
            raise ValueError(f"move_out {self.move_out} is before move_in {self.move_in}")
        return self


class MoveOut(Body):
    move_out: date


def resident_json(row: Any) -> dict[str, Any]:
    """A resident as the API shows it: the identity number masked, never decrypted."""
    out = plain(row, hide=HIDDEN)
    out["identity_number"] = row.identity_masked
    return out


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """Search keys and the protected identity number for the fields being written."""
    out = dict(values)
    if "name" in out:
        out["name_key"] = name_key(out["name"])
    if "phone" in out:
        out["phone_rev"] = phone_rev(out["phone"])
    if "identity_number" in out:
        number = out.pop("identity_number")
        protected = identity.protect(number) if number else None
        out.update(identity_cipher=protected and protected.cipher, identity_hmac=protected and protected.digest,
                   identity_masked=protected and protected.masked)
    return out


async def _check_identity(conn: AsyncConnection, estate: str, number: str | None, exclude: int | None) -> None:
    if not number:
        return
    stmt = select(Resident.id).where(Resident.estate == estate, Resident.identity_hmac == identity.digest(number))
    if exclude is not None:
        stmt = stmt.where(Resident.id != exclude)
    other = await conn.scalar(stmt)
    if other:
        raise Conflict(f"identity_number: resident {other} of this estate already has this identity number")


async def create_resident(conn: AsyncConnection, actor: Principal, estate: str,
                          body: ResidentCreate) -> dict[str, Any]:
    """Register a resident of an estate (they move into units through occupancies)."""
    await require_estate(conn, estate)
    await _check_identity(conn, estate, body.identity_number, None)
    values = stored_values(body.model_dump())
    resident_id = (await conn.execute(insert(Resident).values(estate=estate, created_at=wire.utc_now(), **values)
                                      .returning(Resident.id))).scalar_one()
    after = resident_json(await load(conn, Resident, resident_id, "resident"))
    await audit(conn, actor, "resident", "create", resident_id, estate, None, after)
    return after


async def get_resident(conn: AsyncConnection, resident_id: int, *, detail: bool = True) -> dict[str, Any]:
    """A resident; with detail, their whole occupancy history and their vehicles."""
    out = resident_json(await load(conn, Resident, resident_id, "resident"))
    if detail:
        out["occupancies"] = await list_occupancies(conn, resident_id=resident_id)
        rows = (await conn.execute(select(Vehicle).where(Vehicle.resident_id == resident_id)
                                   .order_by(Vehicle.id))).all()
        out["vehicles"] = [plain(r, hide=("plate_key", "plate_rev")) for r in rows]
    return out


async def list_residents(conn: AsyncConnection, estate: str, *, only: set[int] | None = None,
                         after: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Residents of an estate in id order, a page at a time."""
    stmt = select(Resident).where(Resident.estate == estate)
    if only is not None:
        stmt = stmt.where(Resident.id.in_(sorted(only)))
    if after is not None:
        stmt = stmt.where(Resident.id > after)
    return [resident_json(r) for r in (await conn.execute(stmt.order_by(Resident.id).limit(limit))).all()]


async def update_resident(conn: AsyncConnection, actor: Principal, resident_id: int,
                          body: ResidentUpdate | ContactUpdate) -> dict[str, Any]:
    """Change a resident's details; a ContactUpdate is what a resident may do to their own record."""
    before = await get_resident(conn, resident_id, detail=False)
    given = changes(body, frozenset({"identity_number"}))
    if given.get("identity_number"):
        await _check_identity(conn, before["estate"], given["identity_number"], resident_id)
    if given:
        await conn.execute(update(Resident).where(Resident.id == resident_id).values(**stored_values(given)))
    after = await get_resident(conn, resident_id, detail=False)
    await audit(conn, actor, "resident", "update", resident_id, before["estate"], before, after)
    return after


async def delete_resident(conn: AsyncConnection, actor: Principal, resident_id: int) -> None:
    """Remove a resident entered by mistake; anyone with occupancy history or vehicles stays on record."""
    before = await get_resident(conn, resident_id, detail=False)
    if await conn.scalar(select(Occupancy.id).where(Occupancy.resident_id == resident_id).limit(1)):
        raise Conflict(f"resident {resident_id} has occupancy history, which is kept; record a move-out instead")
    if await conn.scalar(select(Vehicle.id).where(Vehicle.resident_id == resident_id).limit(1)):
        raise Conflict(f"resident {resident_id} has vehicles; delete or transfer them first")
    await photos.forget_photo(conn, actor, "resident", resident_id)
    await conn.execute(Resident.__table__.delete().where(Resident.id == resident_id))
    await audit(conn, actor, "resident", "delete", resident_id, before["estate"], before, None)


def _occupancy_select() -> Any:
    return (select(Occupancy, Building.code.label("building"), Unit.number, Resident.name.label("resident_name"))
            .join(Unit, Unit.id == Occupancy.unit_id).join(Building, Building.id == Unit.building_id)
            .join(Resident, Resident.id == Occupancy.resident_id))


def _occupancy_json(row: Any, today: date) -> dict[str, Any]:
    out = plain(row)
    out["current"] = row.move_in <= today and (row.move_out is None or row.move_out > today)
    return out


async def list_occupancies(conn: AsyncConnection, *, resident_id: int | None = None, unit_id: int | None = None,
                           current_only: bool = False) -> list[dict[str, Any]]:
    """Occupancies of a resident or of a unit, oldest first, each marked current or not."""
    stmt = _occupancy_select().order_by(Occupancy.move_in, Occupancy.id)
    if resident_id is not None:
        stmt = stmt.where(Occupancy.resident_id == resident_id)
    if unit_id is not None:
        stmt = stmt.where(Occupancy.unit_id == unit_id)
    rows = (await conn.execute(stmt)).all()
    if not rows:
        return []
    today = await estate_today(conn, rows[0].estate)
    found = [_occupancy_json(row, today) for row in rows]
    return [o for o in found if o["current"]] if current_only else found


async def get_occupancy(conn: AsyncConnection, occupancy_id: int) -> dict[str, Any]:
    row = (await conn.execute(_occupancy_select().where(Occupancy.id == occupancy_id))).first()
    if row is None:
        await load(conn, Occupancy, occupancy_id, "occupancy")  # raises NotFound
    return _occupancy_json(row, await estate_today(conn, row.estate))


async def add_occupancy(conn: AsyncConnection, actor: Principal, resident_id: int,
                        body: OccupancyCreate) -> dict[str, Any]:
    """Move a resident into a unit (as owner, family or tenant) from a date, optionally until a date."""
    resident = await load(conn, Resident, resident_id, "resident")
    if not await conn.scalar(select(Unit.id).where(Unit.id == body.unit_id, Unit.estate == resident.estate)):
        raise Invalid("unit_id", f"estate {resident.estate!r} has no unit with id {body.unit_id}")
    far = date.max
    clash = await conn.scalar(select(Occupancy.id).where(
        Occupancy.resident_id == resident_id, Occupancy.unit_id == body.unit_id,
        Occupancy.move_in < (body.move_out or far),
        or_(Occupancy.move_out.is_(None), Occupancy.move_out > body.move_in)))
    if clash:
        raise Conflict(f"resident {resident_id} already lives in this unit in that period (occupancy {clash})")
    occupancy_id = (await conn.execute(insert(Occupancy).values(
        estate=resident.estate, resident_id=resident_id, **body.model_dump()).returning(Occupancy.id))).scalar_one()
    after = await get_occupancy(conn, occupancy_id)
    await audit(conn, actor, "occupancy", "create", occupancy_id, resident.estate, None, after)
    return after


async def move_out(conn: AsyncConnection, actor: Principal, occupancy_id: int, body: MoveOut) -> dict[str, Any]:
    """End an occupancy on a date; the row stays, so the resident's history does too."""
    before = await get_occupancy(conn, occupancy_id)
    if before["move_out"] is not None:
        raise Conflict(f"occupancy {occupancy_id} already ended on {before['move_out']}")
    if body.move_out < before["move_in"]:
        raise Invalid("move_out", f"{body.move_out} is before the move-in on {before['move_in']}")
    await conn.execute(update(Occupancy).where(Occupancy.id == occupancy_id).values(move_out=body.move_out))
    after = await get_occupancy(conn, occupancy_id)
    await audit(conn, actor, "occupancy", "move_out", occupancy_id, before["estate"], before, after)
    await _end_cards_if_gone(conn, actor, before["resident_id"], before["estate"], body.move_out)
    return after


async def _end_cards_if_gone(conn: AsyncConnection, actor: Principal, resident_id: int, estate: str,
                             move_out: date) -> None:
    """A resident who lives nowhere in the estate after `move_out` keeps door access to the end of that day (the
    move itself), no longer: their cards' validity ends then (docs/access-central.md)."""
    stays = await conn.scalar(select(Occupancy.id).where(
        Occupancy.resident_id == resident_id, or_(Occupancy.move_out.is_(None), Occupancy.move_out > move_out)))
    if stays is not None:
        return
    from central.access.cards import end_holder_cards  # access builds on the registry, not the other way
    zone = ZoneInfo((await require_estate(conn, estate)).timezone)
    last_day_ends = datetime.combine(move_out + timedelta(days=1), time(), zone).astimezone(UTC)
    await end_holder_cards(conn, actor, last_day_ends, "moved_out", resident_id=resident_id)


async def units_of_resident(conn: AsyncConnection, resident_id: int) -> set[int]:
    """The units a resident lives in now (what a resident account may see)."""
    return {o["unit_id"] for o in await list_occupancies(conn, resident_id=resident_id, current_only=True)}
