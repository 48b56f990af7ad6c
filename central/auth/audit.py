"""The audit log: every change recorded in the same transaction as the change itself."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from central.auth.models import AuditEntry
from central.auth.principal import Principal
from estatelink import wire

SECRET_FIELDS = frozenset({"password", "password_hash", "identity_number", "token", "token_hash"})


def _plain(value: Any) -> Any:
    """JSON-safe, with secrets blanked: the audit log must never become a copy of the secrets."""
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_FIELDS and v is not None else _plain(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def record_change(conn: AsyncConnection | AsyncSession, actor: Principal, action: str, entity: str,
                        entity_id: Any, estate: str | None, before: dict[str, Any] | None,
                        after: dict[str, Any] | None, detail: str = "") -> None:
    """Append one audit entry; call it inside the transaction that makes the change."""
    await conn.execute(insert(AuditEntry).values(
        at=wire.utc_now(), actor_id=actor.user_id, actor=actor.username, role=str(actor.role), estate=estate,
        action=action, entity=entity, entity_id=None if entity_id is None else str(entity_id),
        before=_plain(before), after=_plain(after), detail=detail))


async def record_changes(conn: AsyncConnection | AsyncSession, actor: Principal, entries: list[dict[str, Any]],
                         detail: str = "") -> None:
    """Append many audit entries at once (each with action, entity, entity_id, estate, before, after)."""
    if not entries:
        return
    at = wire.utc_now()
    await conn.execute(insert(AuditEntry), [
        {"at": at, "actor_id": actor.user_id, "actor": actor.username, "role": str(actor.role),
         "estate": e["estate"], "action": e["action"], "entity": e["entity"],
         "entity_id": None if e["entity_id"] is None else str(e["entity_id"]),
         "before": _plain(e["before"]), "after": _plain(e["after"]), "detail": detail} for e in entries])
