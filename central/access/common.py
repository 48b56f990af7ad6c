"""Shared pieces of the access services: body types, holder ids, the audit call, estate-local time."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, StringConstraints
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.audit import record_change
from central.auth.principal import Principal
from estatelink.wire import ID_PATTERN

WireId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A door, door group, schedule, gateway or reader id as the gateways know it (topic-safe, lower-case)."""

UtcTime = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(timezone.utc))]
"""A time with its UTC offset, stored as UTC (SQLite keeps no offset)."""


def holder_id(resident_id: int | None, staff_id: int | None) -> str:
    """The credential's holder id on the wire: r-<resident id> or s-<staff id>."""
    return f"r-{resident_id}" if resident_id is not None else f"s-{staff_id}"


def printable(text: str, fallback: str) -> str:
    """Text a wire record accepts: control characters become spaces; empty becomes the fallback."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return cleaned[:128] or fallback


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def plain(row: Any) -> dict[str, Any]:
    """A row as a dict with aware UTC datetimes."""
    return {key: utc(value) if isinstance(value, datetime) else value for key, value in row._mapping.items()}


async def audit(conn: AsyncConnection, actor: Principal, entity: str, action: str, entity_id: Any, estate: str,
                before: dict[str, Any] | None, after: dict[str, Any] | None, detail: str = "") -> None:
    """Record the change in the audit log, in the caller's transaction."""
    await record_change(conn, actor, f"{entity}.{action}", entity, entity_id, estate, before, after, detail)
