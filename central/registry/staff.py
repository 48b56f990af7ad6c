"""Staff (员工信息): position, contact, shift; and the cards they clock in with."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry import photos
from central.registry.common import Body, Name, Phone, audit, changes, load, name_key, phone_rev, plain, \
    require_estate
from central.registry.errors import Conflict
from central.registry.estates import estate_today
from central.registry.models import AttendanceRecord, PerformanceRecord, Staff, StaffCard
from estatelink import wire

Text64 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
HIDDEN = ("name_key", "phone_rev")


def card_key(value: str) -> str:
    """A card number as readers report it: upper-case hex or digits, no spaces."""
    return "".join(value.split()).upper()


def _card(value: str) -> str:
    key = card_key(value)
    if not 1 <= len(key) <= 64 or not key.isascii() or not key.isalnum():
        raise ValueError("expected the card number as the reader reports it, e.g. 0A1B2C3D4E (letters and digits)")
    return key


CardNumber = Annotated[str, StringConstraints(max_length=80), AfterValidator(_card)]


class StaffCreate(Body):
    name: Name
    phone: Phone = ""
    position: Text64 = ""
    shift: Text64 = ""
    """day, night, or free text such as 08:00-20:00 four days on two off."""
    active: bool = True
    joined_on: date | None = None
    """The first working day; today (in the estate) when not given."""


class StaffUpdate(Body):
    name: Name | None = None
    phone: Phone | None = None
    position: Text64 | None = None
    shift: Text64 | None = None
    active: bool | None = None
    joined_on: date | None = None


class CardCreate(Body):
    card: CardNumber


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """The row as stored: with the name and phone search keys."""
    out = dict(values)
    if "name" in out:
        out["name_key"] = name_key(out["name"])
    if "phone" in out:
        out["phone_rev"] = phone_rev(out["phone"])
    return out


async def create_staff(conn: AsyncConnection, actor: Principal, estate: str, body: StaffCreate) -> dict[str, Any]:
    """Add a member of staff to an estate."""
    await require_estate(conn, estate)
    values = stored_values(body.model_dump())
    values["joined_on"] = values["joined_on"] or await estate_today(conn, estate)
    staff_id = (await conn.execute(insert(Staff).values(estate=estate, created_at=wire.utc_now(), **values)
                                   .returning(Staff.id))).scalar_one()
    after = await get_staff(conn, staff_id)
    await audit(conn, actor, "staff", "create", staff_id, estate, None, after)
    return after


async def get_staff(conn: AsyncConnection, staff_id: int) -> dict[str, Any]:
    """A member of staff with their attendance cards."""
    out = plain(await load(conn, Staff, staff_id, "staff member"), hide=HIDDEN)
    rows = (await conn.execute(select(StaffCard.id, StaffCard.card).where(StaffCard.staff_id == staff_id)
                               .order_by(StaffCard.id))).all()
    out["cards"] = [{"id": r.id, "card": r.card} for r in rows]
    return out


async def list_staff(conn: AsyncConnection, estate: str, *, active: bool | None = None) -> list[dict[str, Any]]:
    await require_estate(conn, estate)
    stmt = select(Staff).where(Staff.estate == estate).order_by(Staff.id)
    if active is not None:
        stmt = stmt.where(Staff.active.is_(active))
    return [plain(r, hide=HIDDEN) for r in (await conn.execute(stmt)).all()]


async def update_staff(conn: AsyncConnection, actor: Principal, staff_id: int, body: StaffUpdate) -> dict[str, Any]:
    before = await get_staff(conn, staff_id)
    given = changes(body, frozenset({"joined_on"}))
    if given:
        await conn.execute(update(Staff).where(Staff.id == staff_id).values(**stored_values(given)))
    after = await get_staff(conn, staff_id)
    await audit(conn, actor, "staff", "update", staff_id, before["estate"], before, after)
    if before["active"] and not after["active"]:  # they left: their door cards stop now (docs/access-central.md)
        from central.access.cards import end_holder_cards  # access builds on the registry, not the other way
        await end_holder_cards(conn, actor, wire.utc_now(), "left", staff_id=staff_id)
    return after


async def delete_staff(conn: AsyncConnection, actor: Principal, staff_id: int) -> None:
    """Remove a member of staff entered by mistake; anyone with attendance or performance records is kept
    (set active to false when they leave)."""
    before = await get_staff(conn, staff_id)
    for model, what in ((AttendanceRecord, "attendance"), (PerformanceRecord, "performance")):
        if await conn.scalar(select(model.id).where(model.staff_id == staff_id).limit(1)):
            raise Conflict(f"staff member {staff_id} has {what} records, which are kept; set active to false instead")
    await conn.execute(StaffCard.__table__.delete().where(StaffCard.staff_id == staff_id))
    await photos.forget_photo(conn, actor, "staff", staff_id)
    await conn.execute(Staff.__table__.delete().where(Staff.id == staff_id))
    await audit(conn, actor, "staff", "delete", staff_id, before["estate"], before, None)


async def add_card(conn: AsyncConnection, actor: Principal, staff_id: int, body: CardCreate) -> dict[str, Any]:
    """Give a member of staff a card for attendance points; a card belongs to one person in an estate."""
    staff = await load(conn, Staff, staff_id, "staff member")
    other = await conn.scalar(select(StaffCard.staff_id).where(StaffCard.estate == staff.estate,
                                                                StaffCard.card == body.card))
    if other is not None:
        raise Conflict(f"card: {body.card} already belongs to staff member {other}")
    card_id = (await conn.execute(insert(StaffCard).values(estate=staff.estate, staff_id=staff_id, card=body.card)
                                  .returning(StaffCard.id))).scalar_one()
    after = {"id": card_id, "staff_id": staff_id, "card": body.card}
    await audit(conn, actor, "staff_card", "create", card_id, staff.estate, None, after)
    return after


async def remove_card(conn: AsyncConnection, actor: Principal, card_id: int) -> dict[str, Any]:
    """Take a card away (lost, returned); returns what was removed so the route can confine it."""
    row = await load(conn, StaffCard, card_id, "staff card")
    before = plain(row)
    await conn.execute(StaffCard.__table__.delete().where(StaffCard.id == card_id))
    await audit(conn, actor, "staff_card", "delete", card_id, row.estate, before, None)
    return before


async def get_card(conn: AsyncConnection, card_id: int) -> dict[str, Any]:
    return plain(await load(conn, StaffCard, card_id, "staff card"))


async def staff_for_card(conn: AsyncConnection, estate: str, card: str) -> int | None:
    """The staff member holding this card in the estate, if any."""
    return await conn.scalar(select(StaffCard.staff_id).where(StaffCard.estate == estate,
                                                               StaffCard.card == card_key(card)))
