"""Query-string parsing with precise errors."""
from __future__ import annotations

import base64
from datetime import datetime, timezone

import orjson

from central.api.errors import BadRequest


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 timestamp with a UTC offset ('Z' allowed)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadRequest(f"{name}: expected an ISO 8601 timestamp such as 2026-11-27T08:00:00Z, got {value!r}")
    if parsed.tzinfo is None:
        raise BadRequest(f"{name}: the timestamp needs a UTC offset (add Z or +08:00), got {value!r}")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise BadRequest(f"{name}: {value!r} is outside the years 1..9999 once converted to UTC") from None


def parse_flag(name: str, value: str | None) -> bool:
    """true or false (also 1 or 0, in any case); absent is false."""
    value = "false" if value is None else value.lower()
    if value not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name}: expected true or false, got {value!r}")
    return value in ("true", "1")


def parse_int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name}: expected an integer, got {value!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name}: expected {low}..{high}, got {number}")
    return number


def encode_cursor(last_id: int, order: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": last_id, "order": order})).decode().rstrip("=")


def decode_cursor(value: str | None, order: str) -> int | None:
    """The row id a cursor continues after; the cursor must come from a query with the same order."""
    if not value:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        after, cursor_order = int(data["after"]), data["order"]
        if not 0 <= after < 2**63:
            raise ValueError("row id out of range")
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise BadRequest("cursor: not a cursor returned by this API (pass next_cursor back unchanged)") from None
    if cursor_order != order:
        raise BadRequest(f"cursor: it was made for order={cursor_order}, not order={order}")
    return after


def as_utc(value: datetime | None) -> str | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
