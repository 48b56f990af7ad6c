"""Visitor passes: time-limited, signed by central, shown as a QR code or typed as a PIN-like code.

The pass text is returned once, when issued, and not stored: it is a bearer credential. Staff name any of
the estate's doors and door groups; a resident may name only the door groups of the buildings they live in
(door_groups.building_id), and gets all of them when naming none.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access.common import UtcTime, WireId, audit, plain
from central.access.errors import Invalid
from central.access.models import Door, DoorGroup, VisitorPass
from central.access.signing import signing_key
from central.auth.principal import Principal
from central.auth.roles import Role
from central.registry.common import Body, Name, Note, require_estate
from central.registry.models import Unit
from central.registry.residents import units_of_resident
from estatelink import wire
from estatelink.visitor_pass import PassError, grouped, issue

DEFAULT_WINDOW = timedelta(hours=4)
MAX_WINDOW = {"staff": timedelta(days=7), "resident": timedelta(days=1)}
Ids = Annotated[list[WireId], Field(max_length=16)]


class PassIssue(Body):
    visitor_name: Name
    note: Note = ""
    doors: Ids = []
    door_groups: Ids = []
    valid_from: UtcTime | None = None
    """Now unless given."""
    valid_until: UtcTime | None = None
    """Four hours after valid_from unless given."""
    single_use: bool = True


async def resident_groups(conn: AsyncConnection, who: Principal) -> set[str]:
    """The door groups of the buildings a resident account's holder lives in now."""
    if who.resident_id is None:
        return set()
    units = await units_of_resident(conn, who.resident_id)
    if not units:
        return set()
    buildings = select(Unit.building_id).where(Unit.id.in_(sorted(units)))
    return set((await conn.execute(select(DoorGroup.code).where(DoorGroup.building_id.in_(buildings)))).scalars())


async def _known(conn: AsyncConnection, model: Any, estate: str, codes: list[str], field: str) -> None:
    found = set((await conn.execute(select(model.code).where(model.estate == estate,
                                                             model.code.in_(codes)))).scalars()) if codes else set()
    if missing := sorted(set(codes) - found):
        raise Invalid(field, f"estate {estate!r} has no {field[:-1].replace('_', ' ')} {missing[0]!r}")


async def issue_pass(conn: AsyncConnection, actor: Principal, estate: str, body: PassIssue) -> dict[str, Any]:
    """Sign a visitor pass; the answer carries its text (for the QR code) and the same grouped for typing."""
    await require_estate(conn, estate)
    doors, groups = sorted(set(body.doors)), sorted(set(body.door_groups))
    resident = actor.role == Role.RESIDENT
    if resident:
        allowed = await resident_groups(conn, actor)
        if doors:
            raise Invalid("doors", "a resident's pass opens their building's door groups; leave doors out")
        if not allowed:
            raise Invalid("door_groups", "no door group serves the building you live in; ask the management office")
        if outside := sorted(set(groups) - allowed):
            raise Invalid("door_groups", f"{outside[0]!r} does not serve the building you live in")
        groups = groups or sorted(allowed)
    await _known(conn, Door, estate, doors, "doors")
    await _known(conn, DoorGroup, estate, groups, "door_groups")
    if not doors and not groups:
        raise Invalid("doors", "a pass must name at least one door or door group")
    now = wire.utc_now()
    valid_from = (body.valid_from or now).replace(microsecond=0)
    valid_until = (body.valid_until or valid_from + DEFAULT_WINDOW).replace(microsecond=0)
    limit = MAX_WINDOW["resident" if resident else "staff"]
    if valid_until <= max(valid_from, now):
        raise Invalid("valid_until", "the pass would never be valid: valid_until must be after now and valid_from")
    if valid_until - valid_from > limit:
        raise Invalid("valid_until", f"a pass may last at most {limit.days} day(s)")
    pass_id = (await conn.execute(insert(VisitorPass).values(
        estate=estate, visitor_name=body.visitor_name, note=body.note, doors=doors, door_groups=groups,
        valid_from=valid_from, valid_until=valid_until, single_use=body.single_use, issued_by=actor.username,
        issued_by_id=actor.user_id, issued_at=now).returning(VisitorPass.id))).scalar_one()
    try:
        text = issue(signing_key(), estate=estate, pass_id=pass_id, valid_from=valid_from, valid_until=valid_until,
                     doors=frozenset(doors), door_groups=frozenset(groups), single_use=body.single_use)
    except PassError as exc:
        raise Invalid("doors", str(exc)) from None
    after = await get_pass(conn, pass_id)
    await audit(conn, actor, "visitor_pass", "issue", pass_id, estate, None, after)
    return {**after, "text": text, "code": grouped(text)}


async def get_pass(conn: AsyncConnection, pass_id: int) -> dict[str, Any]:
    """A visitor pass as stored (without its text)."""
    row = (await conn.execute(select(VisitorPass).where(VisitorPass.id == pass_id))).one()
    return plain(row)


async def list_passes(conn: AsyncConnection, estate: str, *, issued_by_id: int | None = None,
                      before_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Passes issued in the estate, newest first; `issued_by_id` keeps one account's."""
    await require_estate(conn, estate)
    stmt = select(VisitorPass).where(VisitorPass.estate == estate)
    if issued_by_id is not None:
        stmt = stmt.where(VisitorPass.issued_by_id == issued_by_id)
    if before_id is not None:
        stmt = stmt.where(VisitorPass.id < before_id)
    return [plain(row) for row in (await conn.execute(stmt.order_by(VisitorPass.id.desc()).limit(limit))).all()]
