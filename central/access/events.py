"""Ingest consumers of the access module: decisions into the access log, alarm events into alarms, remote
open events into their command's record. Each runs in ingest's transaction and is idempotent: an event
stored again (a redelivery) finds its row already there.

Event data (docs/wire.md): `access.decision` {door, reader, card, granted, reason, holder_id, holder_name,
holder_kind, pass_id}: a single-use pass granted is logged as used for the estate's other gateways
(changelog.append_used_passes); `access.remote_open` {door, command_id, issuer}; `door.forced` {door},
`door.held_open` {door, open_s}, `device.tamper` {device}, `device.offline` {device}.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.access import changelog
from central.access.common import utc
from central.access.models import AccessLogEntry, Alarm, RemoteOpen, VisitorPass

log = logging.getLogger("central.access.events")
ALARM_KINDS = frozenset({"door.forced", "door.held_open", "device.tamper", "device.offline"})


def _insert(conn: AsyncConnection, model: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing(index_elements=["estate", "gateway", "event_seq"])


def _at(row: Mapping[str, Any]) -> datetime:
    """When it happened: the device's clock when it has one, else the gateway's."""
    value = row.get("device_time") or row["received_at"]
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return utc(value)


def _text(data: Mapping[str, Any], name: str, limit: int, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{name} must be a string of 1..{limit} characters, got {value!r}")
    return value


def _decision(row: Mapping[str, Any]) -> dict[str, Any]:
    data = row["data"]
    granted = data.get("granted")
    if not isinstance(granted, bool):
        raise ValueError(f"granted must be true or false, got {granted!r}")
    pass_id = data.get("pass_id")
    if pass_id is not None and (type(pass_id) is not int or not 0 <= pass_id < 2**63):
        raise ValueError(f"pass_id must be an integer, got {pass_id!r}")
    return {"estate": row["estate"], "gateway": row["gateway"], "event_seq": row["seq"], "at": _at(row),
            "door": _text(data, "door", 128), "reader": _text(data, "reader", 64, False),
            "card": _text(data, "card", 128), "granted": granted, "reason": _text(data, "reason", 32),
            "holder_id": _text(data, "holder_id", 128, False), "holder_name": _text(data, "holder_name", 128, False),
            "holder_kind": _text(data, "holder_kind", 16, False), "pass_id": pass_id}


def _usable(rows: list[dict[str, Any]], kinds: frozenset[str], build: Any) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        if row["kind"] not in kinds:
            continue
        try:
            out.append(build(row))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("%s event %s/%s #%s is not usable: %s", row["kind"], row["estate"], row["gateway"],
                        row["seq"], exc)
    return out


async def record_decisions(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Access log rows from `access.decision` events; a granted visitor pass is marked used."""
    entries = _usable(rows, frozenset({"access.decision"}), _decision)
    if not entries:
        return 0
    await conn.execute(_insert(conn, AccessLogEntry), entries)
    single_use: dict[str, dict[int, datetime]] = {}
    for entry in entries:
        if entry["granted"] and entry["pass_id"] is not None:
            first = (await conn.execute(update(VisitorPass).where(
                VisitorPass.id == entry["pass_id"], VisitorPass.estate == entry["estate"],
                VisitorPass.used_at.is_(None)).values(used_at=entry["at"], used_door=entry["door"])
                .returning(VisitorPass.single_use, VisitorPass.valid_until))).first()
            if first is not None and first.single_use:
                single_use.setdefault(entry["estate"], {})[entry["pass_id"]] = first.valid_until
    for estate, passes in single_use.items():
        await changelog.append_used_passes(conn, estate, passes)
    return len(entries)


def used_pass_estates(rows: list[dict[str, Any]]) -> set[str]:
    """The estates whose committed rows include a visitor pass granted (a used single-use pass to relay)."""
    return {row["estate"] for row in rows if row["kind"] == "access.decision" and isinstance(row["data"], Mapping)
            and row["data"].get("granted") is True and row["data"].get("pass_id") is not None}


def _alarm(row: Mapping[str, Any]) -> dict[str, Any]:
    data = row["data"]
    if not isinstance(data, Mapping):
        raise ValueError("data must be an object")
    door = _text(data, "door", 128, row["kind"].startswith("door."))
    return {"estate": row["estate"], "gateway": row["gateway"], "event_seq": row["seq"], "kind": row["kind"],
            "device": (_text(data, "device", 64, False) or row["device"])[:64], "door": door, "at": _at(row),
            "data": dict(data), "state": "open", "comment": ""}


async def record_alarms(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Open alarms from door.forced, door.held_open, device.tamper and device.offline events."""
    alarms = _usable(rows, ALARM_KINDS, _alarm)
    if alarms:
        await conn.execute(_insert(conn, Alarm), alarms)
    return len(alarms)


async def record_remote_opens(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Mark remote opens executed from the gateway's `access.remote_open` events."""
    done = 0
    for row in rows:
        if row["kind"] != "access.remote_open":
            continue
        command_id = (row["data"] or {}).get("command_id")
        if not isinstance(command_id, str):
            continue
        result = await conn.execute(update(RemoteOpen).where(
            RemoteOpen.command_id == command_id, RemoteOpen.estate == row["estate"],
            RemoteOpen.executed_at.is_(None)).values(executed_at=_at(row)))
        done += result.rowcount or 0
        await conn.execute(update(RemoteOpen).where(
            RemoteOpen.command_id == command_id, RemoteOpen.status.in_(("sent", "unsent"))).values(status="ok"))
    return done


CONSUMERS = {"access_log": record_decisions, "alarms": record_alarms, "remote_opens": record_remote_opens}
"""What central/ingest/consumers.py runs for this module."""
