"""Search as an estate office uses it: one box for a name, phone, unit number, plate, identity or card number.

Each kind of match is a searcher: an async function (conn, estate, query) -> hits, listed in SEARCHERS.
Every searcher runs on an index (see the key columns in models.py); the hits are merged per record, and
residents come with the units they live in. Other modules add searchers with `register_searcher` (the access
module registers residents' card numbers there; staff attendance cards are searched here already).
"""
from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.registry import identity
from central.registry.common import digits, name_key, plain, plate_key, prefix_range, require_estate
from central.registry.models import Building, Occupancy, Resident, Staff, StaffCard, Unit, Vehicle
from central.registry.staff import card_key
from central.registry.units import find_units
from estatelink import wire

PER_KIND = 20
MAX_UNIT_DIGITS = 8
MAX_PLATE_DIGITS = 6
ZONE_TTL_S = 60.0
_PHONE_LIKE = re.compile(r"^\+?[0-9 ()\-.]+$")


@dataclass(frozen=True, slots=True)
class Query:
    """The search text and the keys derived from it once."""

    text: str
    name: str
    phone_digits: str
    plate: str
    has_digits: bool
    """Names have no digits: such text skips the name search, the one that scans rows."""
    only_digits: int = 0
    """The number of digits when the text is nothing but a number (with phone punctuation), else 0."""

    @classmethod
    def parse(cls, text: str) -> "Query":
        text = " ".join(text.split())
        phone = digits(text) if _PHONE_LIKE.match(text) else ""
        return cls(text=text, name=name_key(text), phone_digits=phone, plate=plate_key(text),
                   has_digits=bool(digits(text)), only_digits=len(phone))

    def could_be(self, kind: str) -> bool:
        """False when the text cannot be this kind of key: a long bare number is a phone, not a unit or plate.

        PRC identity numbers have 15 or 18 characters (other documents carry letters); unit numbers and the
        digits of a plate are short.
        """
        if not self.only_digits:
            return True
        return {"identity": self.only_digits >= 15, "unit": self.only_digits <= MAX_UNIT_DIGITS,
                "plate": self.only_digits <= MAX_PLATE_DIGITS}.get(kind, True)


@dataclass(slots=True)
class Hit:
    type: str
    """resident, unit, vehicle or staff (other modules may add their own)."""
    id: int
    matched: list[str]
    """What matched: name, phone, identity_number, unit, plate, card."""
    record: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "matched": self.matched, **self.record}


Searcher = Callable[[AsyncConnection, str, Query], Awaitable[list[Hit]]]
SEARCHERS: list[Searcher] = []


def register_searcher(searcher: Searcher) -> Searcher:
    """Add a kind of match to the search box (usable as a decorator)."""
    SEARCHERS.append(searcher)
    return searcher


def _resident(row: Any, matched: str) -> Hit:
    return Hit("resident", row.id, [matched], {"name": row.name, "phone": row.phone,
                                                "identity_number": row.identity_masked})


def _staff(row: Any, matched: str) -> Hit:
    return Hit("staff", row.id, [matched], {"name": row.name, "phone": row.phone, "position": row.position,
                                             "active": row.active})


async def _by_name(conn: AsyncConnection, model: Any, estate: str, key: str) -> list[Any]:
    """Names containing the key, whole-name matches first, then those starting with it.

    The substring test reads every name of the estate, so it asks for ids only, which the (estate, name_key)
    index holds: no table row is read until the page of matches is known.
    """
    rank = case((model.name_key == key, 0), (model.name_key.startswith(key, autoescape=True), 1), else_=2)
    ids = (await conn.execute(select(model.id).where(model.estate == estate,
                                                     model.name_key.contains(key, autoescape=True))
                              .order_by(rank, model.name_key, model.id).limit(PER_KIND))).scalars().all()
    if not ids:
        return []
    rows = {r.id: r for r in (await conn.execute(select(model).where(model.id.in_(ids)))).all()}
    return [rows[i] for i in ids]


@register_searcher
async def residents_by_name(conn: AsyncConnection, estate: str, query: Query) -> list[Hit]:
    if not query.name or query.has_digits:
        return []
    return [_resident(r, "name") for r in await _by_name(conn, Resident, estate, query.name)]


@register_searcher
async def residents_by_phone(conn: AsyncConnection, estate: str, query: Query) -> list[Hit]:
    """The whole number or its last 4 or more digits."""
    if len(query.phone_digits) < 4:
        return []
    stmt = (select(Resident).where(Resident.estate == estate, prefix_range(Resident.phone_rev,
                                                                           query.phone_digits[::-1]))
            .order_by(Resident.id).limit(PER_KIND))
    return [_resident(r, "phone") for r in (await conn.execute(stmt)).all()]


@register_searcher
async def residents_by_identity(conn: AsyncConnection, estate: str, query: Query) -> list[Hit]:
    """The exact identity number, found through its keyed digest (nothing is decrypted)."""
    number = identity.normalise(query.text)
    if not query.could_be("identity") or not re.fullmatch(r"[0-9A-Z]{6,32}", number):
        return []
    stmt = select(Resident).where(Resident.identity_hmac == identity.digest(number), Resident.estate == estate)
    return [_resident(r, "identity_number") for r in (await conn.execute(stmt.limit(PER_KIND))).all()]


@register_searcher
async def units_by_number(conn: AsyncConnection, estate: str, query: Query) -> list[Hit]:
    if not query.has_digits or not query.could_be("unit"):
        return []
    units = await find_units(conn, estate, query.text, PER_KIND)
    return [Hit("unit", u["id"], ["unit"], {k: u[k] for k in ("building", "number", "floor", "status", "use")})
            for u in units]


@register_searcher
async def vehicles_by_plate(conn: AsyncConnection, estate: str, query: Query) -> list[Hit]:
    """The whole plate however typed, or its last 4 or more characters (guards often skip the province)."""
    plate = query.plate
    if len(plate) < 2 or not plate.isalnum() or not query.has_digits or not query.could_be("plate"):
        return []
    match = prefix_range(Vehicle.plate_rev, plate[::-1]) if len(plate) >= 4 else Vehicle.plate_key == plate
    stmt = (select(Vehicle, Resident.name.label("resident_name")).join(Resident, Resident.id == Vehicle.resident_id)
            .where(Vehicle.estate == estate, match).order_by(Vehicle.plate_key).limit(PER_KIND))
    return [Hit("vehicle", r.id, ["plate"], {"plate": r.plate, "description": r.description,
                                             "resident_id": r.resident_id, "resident_name": r.resident_name})
            for r in (await conn.execute(stmt)).all()]


@register_searcher
async def staff_by_name_phone_card(conn: AsyncConnection, estate: str, query: Query) -> list[Hit]:
    """Staff by name, phone (whole or last 4+ digits) or attendance card, in one query for phone and card."""
    if query.name and not query.has_digits:
        return [_staff(r, "name") for r in await _by_name(conn, Staff, estate, query.name)]
    wanted, reversed_phone = [], query.phone_digits[::-1]
    if len(reversed_phone) >= 4:
        wanted.append(prefix_range(Staff.phone_rev, reversed_phone))
    card = card_key(query.text)
    if len(card) >= 4 and card.isascii() and card.isalnum():
        wanted.append(Staff.id.in_(select(StaffCard.staff_id).where(StaffCard.estate == estate,
                                                                    StaffCard.card == card)))
    if not wanted:
        return []
    rows = (await conn.execute(select(Staff).where(Staff.estate == estate, or_(*wanted)).limit(PER_KIND))).all()
    return [_staff(r, "phone" if reversed_phone and r.phone_rev.startswith(reversed_phone) else "card")
            for r in rows]


async def _homes(conn: AsyncConnection, today: date, resident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The units each resident lives in today."""
    if not resident_ids:
        return {}
    stmt = (select(Occupancy.resident_id, Occupancy.unit_id, Occupancy.relation, Building.code.label("building"),
                   Unit.number)
            .join(Unit, Unit.id == Occupancy.unit_id).join(Building, Building.id == Unit.building_id)
            .where(Occupancy.resident_id.in_(sorted(set(resident_ids))), Occupancy.move_in <= today,
                   or_(Occupancy.move_out.is_(None), Occupancy.move_out > today))
            .order_by(Building.code, Unit.number))
    homes: dict[int, list[dict[str, Any]]] = {}
    for row in (await conn.execute(stmt)).all():
        home = plain(row)
        homes.setdefault(home.pop("resident_id"), []).append(home)
    return homes


async def _occupants(conn: AsyncConnection, today: date, unit_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The residents living in each unit today."""
    if not unit_ids:
        return {}
    stmt = (select(Occupancy.unit_id, Occupancy.resident_id, Occupancy.relation, Resident.name, Resident.phone)
            .join(Resident, Resident.id == Occupancy.resident_id)
            .where(Occupancy.unit_id.in_(sorted(set(unit_ids))), Occupancy.move_in <= today,
                   or_(Occupancy.move_out.is_(None), Occupancy.move_out > today))
            .order_by(Occupancy.id))
    found: dict[int, list[dict[str, Any]]] = {}
    for row in (await conn.execute(stmt)).all():
        person = plain(row)
        found.setdefault(person.pop("unit_id"), []).append(person)
    return found


_zones: dict[str, tuple[float, ZoneInfo]] = {}


async def _estate_zone(conn: AsyncConnection, estate: str) -> ZoneInfo:
    """The estate's time zone, remembered for a minute: a search box is typed into all day."""
    now = time.monotonic()
    known = _zones.get(estate)
    if known is None or now - known[0] > ZONE_TTL_S:
        known = _zones[estate] = (now, ZoneInfo((await require_estate(conn, estate)).timezone))
    return known[1]


async def search(conn: AsyncConnection, estate: str, text: str) -> dict[str, Any]:
    """Every record of the estate the text identifies, one hit per record, residents with their homes."""
    today = wire.utc_now().astimezone(await _estate_zone(conn, estate)).date()
    query = Query.parse(text)
    merged: dict[tuple[str, int], Hit] = {}
    if query.text:
        for searcher in SEARCHERS:
            for hit in await searcher(conn, estate, query):
                known = merged.get((hit.type, hit.id))
                if known is None:
                    merged[(hit.type, hit.id)] = hit
                else:
                    known.matched.extend(m for m in hit.matched if m not in known.matched)
    hits = list(merged.values())
    homes = await _homes(conn, today, [h.id for h in hits if h.type == "resident"] +
                         [h.record["resident_id"] for h in hits if h.type == "vehicle"])
    occupants = await _occupants(conn, today, [h.id for h in hits if h.type == "unit"])
    for hit in hits:
        if hit.type == "resident":
            hit.record["units"] = homes.get(hit.id, [])
        elif hit.type == "vehicle":
            hit.record["units"] = homes.get(hit.record["resident_id"], [])
        elif hit.type == "unit":
            hit.record["residents"] = occupants.get(hit.id, [])
    return {"query": query.text, "hits": [h.as_dict() for h in hits]}
