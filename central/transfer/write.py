"""Write a checked plan in the caller's transaction: bulk inserts in dependency order, then updates, all audited."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.audit import record_changes
from central.auth.principal import Principal
from central.registry import residents, staff, vehicles
from central.registry.models import (Building, Occupancy, ParkingSpace, Resident, Staff, StaffCard, Unit,
                                     Vehicle)
from central.transfer.plan import ENTITIES, Change, Plan
from central.transfer.state import Ref
from estatelink import wire

CHUNK = 5000
Progress = Callable[[str, int, int], None]


def _same(values: dict[str, Any]) -> dict[str, Any]:
    return values


TABLES: dict[str, tuple[Any, Callable[[dict[str, Any]], dict[str, Any]], bool]] = {
    "building": (Building, _same, False),
    "unit": (Unit, _same, False),
    "resident": (Resident, residents.stored_values, True),
    "occupancy": (Occupancy, _same, False),
    "staff": (Staff, staff.stored_values, True),
    "staff_card": (StaffCard, _same, False),
    "parking": (ParkingSpace, _same, False),
    "vehicle": (Vehicle, vehicles.stored_values, False),
}
"""Per entity: its table, how a row's values become stored columns, and whether it has a created_at."""
_HIDDEN = frozenset({"name_key", "phone_rev", "plate_key", "plate_rev", "identity_cipher", "identity_hmac"})


def _resolved(values: dict[str, Any]) -> dict[str, Any]:
    """References to records created earlier in the same import become their new ids."""
    return {k: (v.id if isinstance(v, Ref) else v) for k, v in values.items()}


def _audit_view(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in _HIDDEN}


async def write_plan(conn: AsyncConnection, actor: Principal, estate: str, plan: Plan, *, detail: str,
                     progress: Progress | None = None) -> None:
    """Apply every planned create and update; the caller's transaction makes it all-or-nothing."""
    total = sum(len(c) for c in plan.creates.values()) + sum(len(u) for u in plan.updates.values())
    done = 0
    for entity in ENTITIES:
        model, stored, stamped = TABLES[entity]
        creates = plan.creates[entity]
        for start in range(0, len(creates), CHUNK):
            chunk = creates[start:start + CHUNK]
            done += await _insert(conn, actor, estate, entity, model, stored, stamped, chunk, detail)
            if progress:
                progress("write", done, total)
        for change in plan.updates[entity].values():
            values = _resolved(change.values)
            await conn.execute(update(model).where(model.id == change.record.ref.id).values(**stored(values)))
        await record_changes(conn, actor, [
            {"action": f"{entity}.update", "entity": entity, "entity_id": c.record.ref.id, "estate": estate,
             "before": _resolved(c.before or {}), "after": _resolved(c.values)}
            for c in plan.updates[entity].values()], detail)
        done += len(plan.updates[entity])
        if progress and plan.updates[entity]:
            progress("write", done, total)


async def _insert(conn: AsyncConnection, actor: Principal, estate: str, entity: str, model: Any,
                  stored: Callable[[dict[str, Any]], dict[str, Any]], stamped: bool, chunk: list[Change],
                  detail: str) -> int:
    extra: dict[str, Any] = {"estate": estate}
    if stamped:
        extra["created_at"] = wire.utc_now()
    rows = [_resolved(c.values) for c in chunk]
    for change, new_id in zip(chunk, await _insert_rows(conn, model, [{**stored(row), **extra} for row in rows]),
                              strict=True):
        change.record.ref.id = new_id
    await record_changes(conn, actor, [
        {"action": f"{entity}.create", "entity": entity, "entity_id": c.record.ref.id, "estate": estate,
         "before": None, "after": {"id": c.record.ref.id, **_audit_view(row)}} for c, row in zip(chunk, rows)],
        detail)
    return len(chunk)


async def _insert_rows(conn: AsyncConnection, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows, returning their new ids in order.

    PostgreSQL returns them from batched INSERT ... RETURNING. SQLite cannot batch RETURNING in order, so the
    first row is inserted alone (which takes the database's write lock for this transaction), and the rest get
    the ids that follow it: no other writer can insert before this transaction ends.
    """
    if conn.dialect.name != "sqlite":
        result = await conn.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
        return list(result.scalars().all())
    first = (await conn.execute(insert(model).returning(model.id), rows[0])).scalar_one()
    ids = list(range(first, first + len(rows)))
    if len(rows) > 1:
        await conn.execute(insert(model), [{**row, "id": new_id} for row, new_id in zip(rows[1:], ids[1:])])
    return ids
