"""Access cards: issued to a registry resident or staff member, suspended, reported lost, replaced, returned.

States and the actions between them are one table (TRANSITIONS). Lost and returned are final: a returned
card's key may be issued again as a new card, a lost card's key never is (its row stays lost, and the partial
unique index on live keys keeps it so). Every change is in the card's history, the audit log and the change
log, and returns the `access_version` it produced so the sync can publish it the moment the caller commits.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access import changelog, records
from central.access.common import UtcTime, WireId, audit, holder_id, plain
from central.access.errors import Conflict, Invalid, NotFound
from central.access.models import Card, CardHistory, DoorGroup
from central.auth.principal import Principal
from central.registry.common import Body, Note, RecordId, changes, require_estate
from central.registry.models import Resident, Staff
from central.registry.staff import CardNumber
from estatelink import wire

TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "suspend": (frozenset({"active"}), "suspended", "suspended"),
    "reactivate": (frozenset({"suspended"}), "active", "reactivated"),
    "report_lost": (frozenset({"active", "suspended"}), "lost", "lost"),
    "return": (frozenset({"active", "suspended"}), "returned", "returned"),
}
"""action: (states it starts from, the state it leaves, the history entry). Lost and returned are final."""
DoorGroups = Annotated[list[WireId], Field(max_length=64)]


def _window(valid_from: Any, valid_until: Any) -> None:
    if valid_from is not None and valid_until is not None and valid_from >= valid_until:
        raise ValueError("valid_from must be before valid_until")


class CardIssue(Body):
    card: CardNumber
    """The card number as the readers report it."""
    resident_id: RecordId | None = None
    staff_id: RecordId | None = None
    door_groups: DoorGroups = []
    valid_from: UtcTime | None = None
    valid_until: UtcTime | None = None
    note: Note = ""

    @model_validator(mode="after")
    def _holder(self) -> "CardIssue":
        if (self.resident_id is None) == (self.staff_id is None):
            raise ValueError("give exactly one holder: resident_id or staff_id")
        _window(self.valid_from, self.valid_until)
        return self


class CardUpdate(Body):
    door_groups: DoorGroups | None = None
    valid_from: UtcTime | None = None
    valid_until: UtcTime | None = None
    note: Note | None = None


class CardAction(Body):
    note: Note = ""
    """Why (shown in the card's history)."""


class CardReplace(Body):
    card: CardNumber
    """The new card's number."""
    reason: Literal["lost", "damaged"] = "lost"
    """lost: the old card is reported lost (never usable again); damaged: it was handed back (returned)."""
    note: Note = ""


async def get_card(conn: AsyncConnection, card_id: int) -> dict[str, Any]:
    """A card with its holder's name and the card that replaced it, if any."""
    row = (await conn.execute(select(Card).where(Card.id == card_id))).first()
    if row is None:
        raise NotFound(f"no card with id {card_id}")
    return await _json(conn, row)


async def _json(conn: AsyncConnection, row: Any) -> dict[str, Any]:
    out = plain(row)
    out["holder_kind"] = "resident" if row.resident_id is not None else "staff"
    out["holder_id"] = holder_id(row.resident_id, row.staff_id)
    out["holder_name"] = await records.holder_name(conn, row.resident_id, row.staff_id)
    out["replaced_by_id"] = await conn.scalar(select(Card.id).where(Card.replaces_id == row.id))
    return out


async def list_cards(conn: AsyncConnection, estate: str, *, state: str | None = None, card: str | None = None,
                     resident_id: int | None = None, staff_id: int | None = None, after: int | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
    """The estate's cards in id order, a page at a time, filtered by state, card number or holder."""
    await require_estate(conn, estate)
    stmt = select(Card).where(Card.estate == estate)
    for column, value in ((Card.state, state), (Card.card, card), (Card.resident_id, resident_id),
                          (Card.staff_id, staff_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if after is not None:
        stmt = stmt.where(Card.id > after)
    return [await _json(conn, row) for row in (await conn.execute(stmt.order_by(Card.id).limit(limit))).all()]


async def history(conn: AsyncConnection, card_id: int) -> list[dict[str, Any]]:
    """What happened to a card, oldest first."""
    stmt = select(CardHistory).where(CardHistory.card_id == card_id).order_by(CardHistory.id)
    return [plain(row) for row in (await conn.execute(stmt)).all()]


async def _note(conn: AsyncConnection, card: Any, action: str, actor: Principal, note: str) -> None:
    await conn.execute(insert(CardHistory).values(estate=card.estate, card_id=card.id, at=wire.utc_now(),
                                                  action=action, actor=actor.username, note=note))


async def _check_key(conn: AsyncConnection, estate: str, key: str, field: str = "card") -> None:
    held = (await conn.execute(select(Card.id, Card.state).where(
        Card.estate == estate, Card.card == key, Card.state != "returned"))).first()
    if held is None:
        return
    if held.state == "lost":
        raise Conflict(f"{field}: card {key} was reported lost (card id {held.id}); a lost card is never issued "
                       "again, issue a new card")
    raise Conflict(f"{field}: card {key} is already issued (card id {held.id}, {held.state})")


async def _check_groups(conn: AsyncConnection, estate: str, groups: list[str]) -> None:
    known = set((await conn.execute(select(DoorGroup.code).where(
        DoorGroup.estate == estate, DoorGroup.code.in_(groups)))).scalars()) if groups else set()
    if missing := sorted(set(groups) - known):
        raise Invalid("door_groups", f"estate {estate!r} has no door group {missing[0]!r}")


async def _check_holder(conn: AsyncConnection, estate: str, resident_id: int | None, staff_id: int | None) -> None:
    if resident_id is not None:
        if await conn.scalar(select(Resident.estate).where(Resident.id == resident_id)) != estate:
            raise Invalid("resident_id", f"estate {estate!r} has no resident with id {resident_id}")
        return
    staff = (await conn.execute(select(Staff.estate, Staff.active).where(Staff.id == staff_id))).first()
    if staff is None or staff.estate != estate:
        raise Invalid("staff_id", f"estate {estate!r} has no staff member with id {staff_id}")
    if not staff.active:
        raise Invalid("staff_id", f"staff member {staff_id} is no longer active")


async def _insert_card(conn: AsyncConnection, actor: Principal, estate: str, values: dict[str, Any],
                       state: str = "active") -> int:
    await _check_key(conn, estate, values["card"])
    return (await conn.execute(insert(Card).values(
        estate=estate, state=state, issued_at=wire.utc_now(), issued_by=actor.username, **values)
        .returning(Card.id))).scalar_one()


async def _row(conn: AsyncConnection, card_id: int) -> Any:
    row = (await conn.execute(select(Card).where(Card.id == card_id))).first()
    if row is None:
        raise NotFound(f"no card with id {card_id}")
    return row


async def issue_card(conn: AsyncConnection, actor: Principal, estate: str, body: CardIssue) -> dict[str, Any]:
    """Issue a card to a resident or staff member of the estate; it opens the doors of its door groups."""
    await require_estate(conn, estate)
    await _check_holder(conn, estate, body.resident_id, body.staff_id)
    groups = sorted(set(body.door_groups))
    await _check_groups(conn, estate, groups)
    card_id = await _insert_card(conn, actor, estate, {**body.model_dump(exclude={"door_groups"}),
                                                       "door_groups": groups})
    await _note(conn, await _row(conn, card_id), "issued", actor, body.note)
    return await _changed(conn, actor, [card_id], card_id, None, "issue")


async def update_card(conn: AsyncConnection, actor: Principal, card_id: int, body: CardUpdate) -> dict[str, Any]:
    """Change a live card's door groups, validity or note."""
    before = await get_card(conn, card_id)
    if before["state"] not in ("active", "suspended"):
        raise Conflict(f"card {before['card']} is {before['state']}; it can no longer be changed")
    given = changes(body, frozenset({"valid_from", "valid_until"}))
    if "door_groups" in given:
        given["door_groups"] = sorted(set(given["door_groups"]))
        await _check_groups(conn, before["estate"], given["door_groups"])
    try:
        _window(given.get("valid_from", before["valid_from"]), given.get("valid_until", before["valid_until"]))
    except ValueError as exc:
        raise Invalid("valid_until", str(exc)) from None
    if given:
        await conn.execute(update(Card).where(Card.id == card_id).values(**given))
    await _note(conn, await _row(conn, card_id), "updated", actor, given.get("note", ""))
    return await _changed(conn, actor, [card_id], card_id, before, "update")


async def act(conn: AsyncConnection, actor: Principal, card_id: int, action: str, body: CardAction) -> dict[str, Any]:
    """Suspend, reactivate, report lost or return a card, as TRANSITIONS allows."""
    starts, state, entry = TRANSITIONS[action]
    before = await get_card(conn, card_id)
    if before["state"] not in starts:
        raise Conflict(f"card {before['card']} is {before['state']}; {action.replace('_', ' ')} needs it "
                       f"{' or '.join(sorted(starts))}")
    ended = wire.utc_now() if state in ("lost", "returned") else None
    done = await conn.execute(update(Card).where(Card.id == card_id, Card.state == before["state"])
                              .values(state=state, ended_at=ended))
    if done.rowcount != 1:  # another request changed it since we read it
        raise Conflict(f"card {before['card']} was changed meanwhile; reload it and try again")
    await _note(conn, await _row(conn, card_id), entry, actor, body.note)
    return await _changed(conn, actor, [card_id], card_id, before, action)


async def replace_card(conn: AsyncConnection, actor: Principal, card_id: int, body: CardReplace) -> dict[str, Any]:
    """A new card for the same holder, door groups and validity; the old one becomes lost or returned."""
    old = await _row(conn, card_id)
    before = await get_card(conn, card_id)
    if old.state == "returned":
        raise Conflict(f"card {old.card} was returned; issue a new card instead")
    if before["replaced_by_id"] is not None:
        raise Conflict(f"card {old.card} was already replaced (by card id {before['replaced_by_id']})")
    if old.state != "lost":
        state = "lost" if body.reason == "lost" else "returned"
        done = await conn.execute(update(Card).where(Card.id == card_id, Card.state == old.state)
                                  .values(state=state, ended_at=wire.utc_now()))
        if done.rowcount != 1:
            raise Conflict(f"card {old.card} was changed meanwhile; reload it and try again")
    new_id = await _insert_card(conn, actor, old.estate, {
        "card": body.card, "resident_id": old.resident_id, "staff_id": old.staff_id,
        "door_groups": list(old.door_groups), "valid_from": old.valid_from, "valid_until": old.valid_until,
        "replaces_id": card_id, "note": body.note}, "suspended" if old.state == "suspended" else "active")
    await _note(conn, await _row(conn, card_id), "replaced", actor, f"by card {body.card}; {body.note}".rstrip("; "))
    await _note(conn, await _row(conn, new_id), "issued", actor, f"replaces card {old.card}")
    return await _changed(conn, actor, [card_id, new_id], new_id, before, "replace")


async def end_holder_cards(conn: AsyncConnection, actor: Principal, until: datetime, why: str, *,
                           resident_id: int | None = None, staff_id: int | None = None) -> list[int]:
    """Stop a holder's live cards at `until` (a resident moving out, staff leaving): each card's valid_until is
    brought forward to it (never pushed later), logged for the gateways, audited and noted as `why`. Returns the
    cards changed."""
    holder = Card.resident_id == resident_id if resident_id is not None else Card.staff_id == staff_id
    rows = (await conn.execute(select(Card.id).where(
        holder, Card.state.in_(("active", "suspended")),
        or_(Card.valid_until.is_(None), Card.valid_until > until)).order_by(Card.id))).scalars().all()
    for card_id in rows:
        before = await get_card(conn, card_id)
        await conn.execute(update(Card).where(Card.id == card_id).values(valid_until=until))
        await _note(conn, await _row(conn, card_id), why, actor, f"valid until {until.isoformat()}")
        await _changed(conn, actor, [card_id], card_id, before, why)
    return list(rows)


async def _changed(conn: AsyncConnection, actor: Principal, card_ids: list[int], shown: int,
                   before: dict[str, Any] | None, action: str) -> dict[str, Any]:
    """Log the cards' records under one version, audit the action, and answer with the card `shown`."""
    logged = await changelog.append(conn, (await _row(conn, shown)).estate,
                                    [await records.card_change(conn, i) for i in card_ids])
    after = await get_card(conn, shown)
    await audit(conn, actor, "card", action, shown, after["estate"], before, after)
    return {**after, **logged.fields()}
