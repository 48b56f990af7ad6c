"""Setting billing up: fee items, their rule versions, which units they apply to, and the estate's policy."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.billing import params
from central.billing.errors import Conflict, Invalid, NotFound
from central.billing.models import FEE_KINDS, BillingPolicy, BillLine, FeeAssignment, FeeItem, FeeRule
from central.billing.params import Rate
from central.registry.common import Body, Code, Label, Note, RecordId, audit, changes, plain, require_estate
from central.registry.models import Unit
from estatelink import wire

FeeKind = Literal["area", "usage_tiered", "parking_monthly", "parking_temporary", "fixed", "shared_allocation"]
MeterKind = Literal["water", "electricity", "gas"]
Version = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
assert set(FEE_KINDS) == set(FeeKind.__args__)  # type: ignore[attr-defined]
DEFAULT_POLICY = {"due_months": 1, "late_fee_daily_rate": Decimal("0.0005"), "late_fee_cap_ratio": Decimal("1"),
                  "late_fee_grace_days": 0}


class ItemCreate(Body):
    code: Code
    name: Label
    kind: FeeKind
    meter_kind: MeterKind | None = None
    """usage_tiered: the kind of unit meter it bills."""
    scope: Literal["all", "assigned"] = "all"


class ItemUpdate(Body):
    name: Label | None = None
    scope: Literal["all", "assigned"] | None = None
    active: bool | None = None


class RuleCreate(Body):
    version: Version
    effective_from: date
    parameters: dict[str, Any]
    note: Note = ""


class RuleUpdate(Body):
    effective_from: date | None = None
    parameters: dict[str, Any] | None = None
    note: Note | None = None


class AssignmentRow(Body):
    unit_id: RecordId
    household_size: Annotated[int, Field(ge=1, le=50)] | None = None


class AssignmentsSet(Body):
    units: list[AssignmentRow] = Field(default=[], max_length=10000)
    """Added, or their household size changed."""
    remove: list[RecordId] = Field(default=[], max_length=10000)
    """Unit ids whose assignment ends."""


class PolicyUpdate(Body):
    due_months: Annotated[int, Field(ge=0, le=12)] | None = None
    late_fee_daily_rate: Annotated[Rate, Field(le=Decimal("0.01"))] | None = None
    late_fee_cap_ratio: Annotated[Rate, Field(le=Decimal("10"))] | None = None
    late_fee_grace_days: Annotated[int, Field(ge=0, le=365)] | None = None


async def create_item(conn: AsyncConnection, actor: Principal, estate: str, body: ItemCreate) -> dict[str, Any]:
    """Add a fee item; its code is unique in the estate and names its rule on every bill line."""
    await require_estate(conn, estate)
    if (body.kind == "usage_tiered") != (body.meter_kind is not None):
        raise Invalid("meter_kind", "a usage_tiered item names the meter kind it bills; other kinds name none")
    if await conn.scalar(select(FeeItem.id).where(FeeItem.estate == estate, FeeItem.code == body.code)):
        raise Conflict(f"code: estate {estate!r} already has a fee item {body.code!r}")
    item_id = (await conn.execute(insert(FeeItem).values(
        estate=estate, active=True, created_at=wire.utc_now(), **body.model_dump()).returning(FeeItem.id))).scalar_one()
    after = await get_item(conn, item_id)
    await audit(conn, actor, "fee_item", "create", item_id, estate, None, after)
    return after


async def get_item(conn: AsyncConnection, item_id: int) -> dict[str, Any]:
    """A fee item."""
    row = (await conn.execute(select(FeeItem).where(FeeItem.id == item_id))).first()
    if row is None:
        raise NotFound(f"no fee item with id {item_id}")
    return plain(row)


async def list_items(conn: AsyncConnection, estate: str) -> list[dict[str, Any]]:
    """The estate's fee items with their rule versions, oldest first."""
    items = [plain(r) for r in (await conn.execute(select(FeeItem).where(FeeItem.estate == estate)
                                                     .order_by(FeeItem.id))).all()]
    rules = await list_rules(conn, estate=estate)
    for item in items:
        item["rules"] = [r for r in rules if r["fee_item_id"] == item["id"]]
    return items


async def update_item(conn: AsyncConnection, actor: Principal, item_id: int, body: ItemUpdate) -> dict[str, Any]:
    """Rename an item, change its scope, or stop (and restart) billing it."""
    before = await get_item(conn, item_id)
    given = changes(body)
    if given:
        await conn.execute(update(FeeItem).where(FeeItem.id == item_id).values(**given))
    after = await get_item(conn, item_id)
    await audit(conn, actor, "fee_item", "update", item_id, before["estate"], before, after)
    return after


async def _rule_used(conn: AsyncConnection, rule_id: int) -> bool:
    return bool(await conn.scalar(select(exists().where(BillLine.rule_id == rule_id))))


async def get_rule(conn: AsyncConnection, rule_id: int) -> dict[str, Any]:
    """A rule version, with whether a bill line names it (then it can no longer change)."""
    row = (await conn.execute(select(FeeRule).where(FeeRule.id == rule_id))).first()
    if row is None:
        raise NotFound(f"no rule version with id {rule_id}")
    return {**plain(row), "used": await _rule_used(conn, rule_id)}


async def list_rules(conn: AsyncConnection, *, estate: str | None = None,
                     item_id: int | None = None) -> list[dict[str, Any]]:
    """Rule versions by item and effective date."""
    stmt = select(FeeRule).order_by(FeeRule.fee_item_id, FeeRule.effective_from)
    if estate is not None:
        stmt = stmt.where(FeeRule.estate == estate)
    if item_id is not None:
        stmt = stmt.where(FeeRule.fee_item_id == item_id)
    return [plain(r) for r in (await conn.execute(stmt)).all()]


async def create_rule(conn: AsyncConnection, actor: Principal, item_id: int, body: RuleCreate) -> dict[str, Any]:
    """Add a version of the item's tariff, in force from its date until the next version's."""
    item = await get_item(conn, item_id)
    stored = params.validate(item["kind"], body.parameters)
    taken = await conn.scalar(select(FeeRule.id).where(FeeRule.fee_item_id == item_id, (
        FeeRule.version == body.version) | (FeeRule.effective_from == body.effective_from)))
    if taken:
        raise Conflict(f"version: {item['code']} already has version {body.version!r} or one from "
                       f"{body.effective_from}")
    rule_id = (await conn.execute(insert(FeeRule).values(
        estate=item["estate"], fee_item_id=item_id, version=body.version, effective_from=body.effective_from,
        parameters=stored, note=body.note, created_at=wire.utc_now()).returning(FeeRule.id))).scalar_one()
    after = await get_rule(conn, rule_id)
    await audit(conn, actor, "fee_rule", "create", rule_id, item["estate"], None, after)
    return after


async def update_rule(conn: AsyncConnection, actor: Principal, rule_id: int, body: RuleUpdate) -> dict[str, Any]:
    """Correct a rule version that has priced nothing yet; a used one is frozen (add a new version)."""
    before = await get_rule(conn, rule_id)
    if before["used"]:
        raise Conflict(f"rule version {before['version']!r} has priced bills and cannot change: add a new version")
    given = changes(body)
    if "parameters" in given:
        item = await get_item(conn, before["fee_item_id"])
        given["parameters"] = params.validate(item["kind"], given["parameters"])
    if given:
        await conn.execute(update(FeeRule).where(FeeRule.id == rule_id).values(**given))
    after = await get_rule(conn, rule_id)
    await audit(conn, actor, "fee_rule", "update", rule_id, before["estate"], before, after)
    return after


async def list_assignments(conn: AsyncConnection, item_id: int) -> list[dict[str, Any]]:
    """The units the item is assigned to, with household sizes."""
    stmt = select(FeeAssignment).where(FeeAssignment.fee_item_id == item_id).order_by(FeeAssignment.unit_id)
    return [plain(r) for r in (await conn.execute(stmt)).all()]


async def set_assignments(conn: AsyncConnection, actor: Principal, item_id: int,
                          body: AssignmentsSet) -> dict[str, Any]:
    """Assign the item to units (or change their household size) and end assignments, in one change."""
    item = await get_item(conn, item_id)
    wanted = {row.unit_id for row in body.units} | set(body.remove)
    found = set((await conn.scalars(select(Unit.id).where(Unit.estate == item["estate"],
                                                          Unit.id.in_(sorted(wanted))))).all())
    if wanted - found:
        raise Invalid("units", f"estate {item['estate']!r} has no unit {min(wanted - found)}")
    before = {a["unit_id"]: a for a in await list_assignments(conn, item_id)}
    if body.remove:
        await conn.execute(delete(FeeAssignment).where(FeeAssignment.fee_item_id == item_id,
                                                       FeeAssignment.unit_id.in_(body.remove)))
    for row in body.units:
        if row.unit_id in before:
            await conn.execute(update(FeeAssignment).where(FeeAssignment.id == before[row.unit_id]["id"])
                               .values(household_size=row.household_size))
    new = [{"estate": item["estate"], "fee_item_id": item_id, "unit_id": r.unit_id,
            "household_size": r.household_size, "created_at": wire.utc_now()} for r in body.units
           if r.unit_id not in before]
    if new:
        await conn.execute(insert(FeeAssignment), new)
    await audit(conn, actor, "fee_item", "assign", item_id, item["estate"],
                {"units": len(before)}, {"set": [r.model_dump() for r in body.units], "removed": body.remove})
    return {"items": await list_assignments(conn, item_id)}


async def get_policy(conn: AsyncConnection, estate: str) -> dict[str, Any]:
    """The estate's due-date and late-fee policy (the defaults until someone sets it)."""
    row = (await conn.execute(select(BillingPolicy).where(BillingPolicy.estate == estate))).first()
    if row is None:
        await require_estate(conn, estate)
        return {"estate": estate, **DEFAULT_POLICY, "updated_at": None}
    return plain(row)


async def update_policy(conn: AsyncConnection, actor: Principal, estate: str, body: PolicyUpdate) -> dict[str, Any]:
    """Change when bills fall due and how late fees accrue; bills already issued keep their due dates."""
    before = await get_policy(conn, estate)
    values = {k: before[k] for k in DEFAULT_POLICY} | changes(body)
    if before["updated_at"] is None:
        await conn.execute(insert(BillingPolicy).values(estate=estate, updated_at=wire.utc_now(), **values))
    else:
        await conn.execute(update(BillingPolicy).where(BillingPolicy.estate == estate)
                           .values(updated_at=wire.utc_now(), **values))
    after = await get_policy(conn, estate)
    await audit(conn, actor, "billing_policy", "update", estate, estate, before, after)
    return after
