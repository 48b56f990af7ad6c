"""Shared pieces of the registry services: body types, search keys, row loading, the audit call."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.audit import record_change
from central.auth.principal import Principal
from central.registry.errors import Invalid, NotFound
from central.registry.models import Estate
from estatelink.wire import ID_PATTERN


class Body(BaseModel):
    """A create or update body: unknown fields are errors, and no text may hold a NUL (PostgreSQL refuses it)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value


def _text(max_length: int, min_length: int = 1) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)]


Name = _text(64)
Label = _text(128)
Code = _text(32)
Note = _text(256, 0)
ShortNote = _text(128, 0)
RecordId = Annotated[int, Field(ge=1, le=2**63 - 1)]
EstateCode = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
AreaValue = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-.]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _phone(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip()
    if value and not _PHONE_CHARS.match(value):
        raise ValueError("a phone number is digits, optionally with +, spaces, dashes or brackets")
    if value and not 4 <= len(digits(value)) <= 20:
        raise ValueError("a phone number has 4 to 20 digits")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if value and not _EMAIL.match(value):
        raise ValueError("expected an e-mail address such as name@example.com")
    return value


Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(_phone)]
Email = Annotated[str, StringConstraints(max_length=128), AfterValidator(_email)]


def digits(value: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isdigit() and ch.isascii())


def phone_rev(phone: str) -> str:
    """The phone's digits reversed: a suffix search is then a prefix search on an index."""
    return digits(phone)[::-1]


def name_key(name: str) -> str:
    """Case-folded, without spaces: 'Li  Wei' and 'liwei' look alike to search."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def plate_key(plate: str) -> str:
    """京A·12345, 京a 12345 and 京A-12345 are one plate: upper-case, no spaces, dots or dashes."""
    text = unicodedata.normalize("NFKC", plate).upper()
    return "".join(ch for ch in text if not ch.isspace() and ch not in ".·•-_")


def prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    """column starts with prefix, as a range an index can serve (key columns compare bytes on both databases)."""
    return and_(column >= prefix, column < prefix + "\U0010ffff")


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def plain(row: Any, hide: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row as a dict, datetimes made aware, hidden (derived or secret) columns left out."""
    out = {}
    for key, value in row._mapping.items():
        if key in hide:
            continue
        out[key] = aware(value) if isinstance(value, datetime) else value
    return out


def month_bounds(period: str, field: str = "month") -> tuple[int, int]:
    """(year, month) of a 'YYYY-MM' string, or Invalid naming the field."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", period or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise Invalid(field, f"expected a month as YYYY-MM, e.g. 2026-11, got {period!r}")
    return int(match.group(1)), int(match.group(2))


def changes(body: BaseModel, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields a PATCH body sets; null only where the column may be empty."""
    given = body.model_dump(exclude_unset=True)
    for field, value in given.items():
        if value is None and field not in nullable:
            raise Invalid(field, "may not be null (leave the field out to keep its value)")
    return given


async def load(conn: AsyncConnection, model: Any, record_id: int, what: str) -> Any:
    """One row by id, or NotFound."""
    row = (await conn.execute(select(model).where(model.id == record_id))).first()
    if row is None:
        raise NotFound(f"no {what} with id {record_id}")
    return row


async def require_estate(conn: AsyncConnection, code: str) -> Any:
    row = (await conn.execute(select(Estate).where(Estate.code == code))).first()
    if row is None:
        raise NotFound(f"no estate {code!r}")
    return row


async def audit(conn: AsyncConnection, actor: Principal, entity: str, action: str, entity_id: Any, estate: str | None,
                before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Record the change in the audit log, in the caller's transaction."""
    await record_change(conn, actor, f"{entity}.{action}", entity, entity_id, estate, before, after)


def today_utc() -> date:
    return datetime.now(timezone.utc).date()
