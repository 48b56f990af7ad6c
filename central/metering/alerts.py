"""Leak alerts: the night-flow rule of leak.py run on water points, and the alerts it raises until closed.

Nights are the estate's: readings are put into its time zone before the rule sees them, so the small hours
are 01:00 to 05:00 where the water is running. A point with an open alert gets no second one, nor does a
closed alert come back on the nights it was raised for: only a further night of flow raises a new one.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.metering.common import Instant, estate_zone, utc
from central.metering.errors import NotFound
from central.metering.history import load_readings
from central.metering.leak import detect_leak
from central.metering.models import LeakAlert, MeterPoint
from central.registry.common import Body, Note, audit, changes, plain, require_estate
from estatelink import wire


class LeakCheckRequest(Body):
    until: Instant | None = None
    """Check the nights up to this time (default: now)."""


class AlertUpdate(Body):
    status: Literal["open", "closed"] | None = None
    note: Note | None = None
    """What was found: a running toilet, a burst pipe, a garden tap."""


async def _standing_alert(conn: AsyncConnection, point_id: int, latest_night: str) -> Any:
    """The point's open alert, or one (closed too) already raised for the latest night: no second alert for it."""
    for alert in (await conn.execute(select(LeakAlert).where(LeakAlert.meter_point_id == point_id)
                                     .order_by(LeakAlert.id.desc()))).all():
        if alert.status == "open" or latest_night in alert.nights:
            return alert
    return None


async def check_point(conn: AsyncConnection, actor: Principal, point: Any, until: datetime) -> dict[str, Any]:
    """Run the leak rule on one water point's recent nights; raise an alert when every one of them shows flow."""
    zone = await estate_zone(conn, point.estate)
    since = until - timedelta(days=point.leak_nights + 2)
    readings = [dataclasses.replace(r, at=r.at.astimezone(zone))
                for r in await load_readings(conn, point.id, since, until)]
    check = detect_leak(readings, min_flow_per_hour=Decimal(point.leak_min_flow_per_hour), nights=point.leak_nights)
    outcome: dict[str, Any] = {"meter_point_id": point.id, "name": point.name,
                               "nights_checked": list(check.nights_checked),
                               "nights_matched": list(check.nights_matched), "alert": None, "raised": False}
    if not check.alert:
        return outcome
    existing = await _standing_alert(conn, point.id, check.nights_matched[-1].isoformat())
    if existing is not None:
        outcome["alert"] = plain(existing)
        return outcome
    alert_id = (await conn.execute(insert(LeakAlert).values(
        estate=point.estate, meter_point_id=point.id, raised_at=wire.utc_now(),
        nights=[night.isoformat() for night in check.nights_matched],
        min_flow_per_hour=point.leak_min_flow_per_hour, status="open", note="").returning(LeakAlert.id))).scalar_one()
    outcome["alert"], outcome["raised"] = await get_alert(conn, alert_id), True
    await audit(conn, actor, "leak_alert", "create", alert_id, point.estate, None, outcome["alert"])
    return outcome


async def check_leaks(conn: AsyncConnection, actor: Principal, estate: str,
                      until: datetime | None = None) -> list[dict[str, Any]]:
    """Run the leak rule on every water point of the estate that has a leak threshold."""
    await require_estate(conn, estate)
    until = utc(until) if until is not None else wire.utc_now()
    points = (await conn.execute(select(MeterPoint).where(
        MeterPoint.estate == estate, MeterPoint.kind == "water", MeterPoint.leak_min_flow_per_hour.is_not(None))
        .order_by(MeterPoint.id))).all()
    return [await check_point(conn, actor, point, until) for point in points]


async def get_alert(conn: AsyncConnection, alert_id: int) -> dict[str, Any]:
    """One leak alert."""
    row = (await conn.execute(select(LeakAlert).where(LeakAlert.id == alert_id))).first()
    if row is None:
        raise NotFound(f"no leak alert with id {alert_id}")
    return plain(row)


async def list_alerts(conn: AsyncConnection, estate: str, *, status: str | None = None) -> list[dict[str, Any]]:
    """The estate's leak alerts, newest first."""
    await require_estate(conn, estate)
    stmt = select(LeakAlert).where(LeakAlert.estate == estate)
    if status is not None:
        stmt = stmt.where(LeakAlert.status == status)
    return [plain(row) for row in (await conn.execute(stmt.order_by(LeakAlert.id.desc()).limit(500))).all()]


async def update_alert(conn: AsyncConnection, actor: Principal, alert_id: int, body: AlertUpdate) -> dict[str, Any]:
    """Close an alert (saying what was found), or open it again."""
    before = await get_alert(conn, alert_id)
    given = changes(body)
    if given.get("status") == "closed" and before["status"] != "closed":
        given.update(closed_at=wire.utc_now(), closed_by=actor.username)
    elif given.get("status") == "open":
        given.update(closed_at=None, closed_by=None)
    if given:
        await conn.execute(update(LeakAlert).where(LeakAlert.id == alert_id).values(**given))
    after = await get_alert(conn, alert_id)
    await audit(conn, actor, "leak_alert", "update", alert_id, before["estate"], before, after)
    return after
