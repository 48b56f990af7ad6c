"""Performance records: one value per staff member, month and metric (tasks done, ratings, patrol completion)."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry.common import Body, audit, changes, load, plain, require_estate
from central.registry.errors import Conflict
from central.registry.models import PerformanceRecord, Staff

METRICS = ("tasks_done", "repair_rating", "patrol_completion")
"""Metrics other modules fill in (repairs and patrol, when they exist); any other name is allowed too."""
Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Metric = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Value = Annotated[Decimal, Field(max_digits=12, decimal_places=2)]
Notes = Annotated[str, StringConstraints(max_length=2000)]


class PerformanceCreate(Body):
    period: Period
    """The month, YYYY-MM."""
    metric: Metric
    value: Value
    note: Notes = ""


class PerformanceUpdate(Body):
    value: Value | None = None
    note: Notes | None = None


def _select() -> Any:
    return select(PerformanceRecord, Staff.name.label("staff_name")).join(Staff, Staff.id == PerformanceRecord.staff_id)


async def get_performance(conn: AsyncConnection, record_id: int) -> dict[str, Any]:
    row = (await conn.execute(_select().where(PerformanceRecord.id == record_id))).first()
    if row is None:
        await load(conn, PerformanceRecord, record_id, "performance record")
    return plain(row)


async def create_performance(conn: AsyncConnection, actor: Principal, staff_id: int,
                             body: PerformanceCreate) -> dict[str, Any]:
    """Record a staff member's figure for a month; a second value for the same metric is a conflict (update it)."""
    staff = await load(conn, Staff, staff_id, "staff member")
    other = await conn.scalar(select(PerformanceRecord.id).where(
        PerformanceRecord.staff_id == staff_id, PerformanceRecord.period == body.period,
        PerformanceRecord.metric == body.metric))
    if other:
        raise Conflict(f"metric: {body.metric} for {body.period} is already recorded (record {other}); update it")
    record_id = (await conn.execute(insert(PerformanceRecord).values(
        estate=staff.estate, staff_id=staff_id, **body.model_dump()).returning(PerformanceRecord.id))).scalar_one()
    after = await get_performance(conn, record_id)
    await audit(conn, actor, "performance", "create", record_id, staff.estate, None, after)
    return after


async def list_performance(conn: AsyncConnection, estate: str, *, period: str | None = None,
                           staff_id: int | None = None) -> list[dict[str, Any]]:
    """An estate's performance records, by period, staff and metric."""
    await require_estate(conn, estate)
    stmt = _select().where(PerformanceRecord.estate == estate)
    if period is not None:
        stmt = stmt.where(PerformanceRecord.period == period)
    if staff_id is not None:
        stmt = stmt.where(PerformanceRecord.staff_id == staff_id)
    stmt = stmt.order_by(PerformanceRecord.period, PerformanceRecord.staff_id, PerformanceRecord.metric)
    return [plain(r) for r in (await conn.execute(stmt)).all()]


async def update_performance(conn: AsyncConnection, actor: Principal, record_id: int,
                             body: PerformanceUpdate) -> dict[str, Any]:
    before = await get_performance(conn, record_id)
    given = changes(body)
    if given:
        await conn.execute(update(PerformanceRecord).where(PerformanceRecord.id == record_id).values(**given))
    after = await get_performance(conn, record_id)
    await audit(conn, actor, "performance", "update", record_id, before["estate"], before, after)
    return after


async def delete_performance(conn: AsyncConnection, actor: Principal, record_id: int) -> None:
    before = await get_performance(conn, record_id)
    await conn.execute(PerformanceRecord.__table__.delete().where(PerformanceRecord.id == record_id))
    await audit(conn, actor, "performance", "delete", record_id, before["estate"], before, None)
