"""Readings from stored `meter.reading` events: bound devices only, idempotent on (gateway, seq), nothing raised."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from central.metering import meters, service
from central.metering.common import month_period
from central.metering.events import MeterReadingConsumer, readings_from_event, readings_from_events
from central.metering.models import MeterReading
from central.models import Event
from tests.metering.conftest import OFFICE, fit, local, make_point

Z = timezone.utc


def event(seq: int, at: datetime, data: dict, *, device: str = "wm-3-1201", kind: str = "meter.reading") -> dict:
    """An events-table row as ingest builds it."""
    return {"id": seq, "uuid": str(uuid.uuid4()), "estate": "demo", "gateway": "gw-1", "seq": seq, "device": device,
            "kind": kind, "device_time": None, "received_at": at, "stored_at": at, "data": data}


def water(value: str, **extra) -> dict:
    return {"value": value, "unit": "m3", **extra}


async def _stored(conn) -> list[tuple]:
    rows = (await conn.execute(select(MeterReading.meter_serial, MeterReading.at, MeterReading.value,
                                      MeterReading.source, MeterReading.flags, MeterReading.event_seq)
                               .where(MeterReading.source == "gateway").order_by(MeterReading.id))).all()
    return [(r.meter_serial, r.at.replace(tzinfo=Z) if r.at.tzinfo is None else r.at, r.value, r.flags, r.event_seq)
            for r in rows]


async def test_the_consumer_warns_the_installer_once_an_hour_per_device_and_reason(engine, demo, caplog):
    now = [0.0]
    consume = MeterReadingConsumer(warn_every_s=3600, clock=lambda: now[0])
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 9, 1), "10", gateway="gw-1", device="wm-3-1201")
        at = local(2026, 9, 2, 8)

        def poll(seq: int, minutes: int) -> list[dict]:
            t = at.replace(minute=minutes)
            return [event(seq, t, water(f"11.{minutes:02d}")), event(seq + 1, t, water("3"), device="wm-9-999"),
                    event(seq + 2, t, water("1.5", register="flow_rate")),
                    event(seq + 3, t, {"card": "1A00C3D5E7"}, kind="card.read")]

        caplog.set_level("WARNING", logger="central.metering")
        assert await consume(conn, poll(1, 0)) == {"stored": 1, "unbound": 1, "other_register": 1}
        warned = [r.getMessage() for r in caplog.records]
        assert len(warned) == 2
        assert "demo/gw-1 wm-9-999 not stored (unbound): no meter is bound" in warned[0]
        assert "wm-3-1201 register 'flow_rate' not stored (other_register)" in warned[1]
        assert "name it in the binding" in warned[1]

        caplog.clear()
        now[0] = 3599.0
        assert await consume(conn, poll(5, 10)) == {"stored": 1, "unbound": 1, "other_register": 1}
        assert caplog.records == []  # the same devices and reasons within the hour: counted, not repeated
        now[0] = 3600.0
        assert await consume(conn, poll(9, 20)) == {"stored": 1, "unbound": 1, "other_register": 1}
        assert len(caplog.records) == 2


async def test_the_same_event_twice_is_one_reading(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 9, 1), "10", gateway="gw-1", device="wm-3-1201")
        first = event(1, local(2026, 9, 2, 8), water("12.345"))
        assert await readings_from_event(conn, first) == "stored"
        assert await readings_from_event(conn, first) == "duplicate"
        assert await readings_from_event(conn, dict(first, stored_at=local(2026, 9, 3))) == "duplicate"
        (row,) = await _stored(conn)
        assert row == ("W-001", local(2026, 9, 2, 8), Decimal("12.345"), [], 1)
        assert await conn.scalar(select(func.count()).select_from(MeterReading)) == 2  # and the fitting's first


async def test_what_cannot_be_used_is_counted_not_raised(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 9, 1), "10", gateway="gw-1", device="wm-3-1201")
        at = local(2026, 9, 2, 8)
        counts = await readings_from_events(conn, [
            event(1, at, water("11")),
            event(2, at, water("11.5"), device="wm-9-999"),                      # no meter bound to it
            event(3, local(2026, 8, 1), water("9")),                             # before the meter was fitted
            event(4, at, {"value": 11.5, "unit": "m3"}),                         # a float may have lost digits
            event(5, at, water("11.5", unit="kWh")),                             # not a water unit
            event(6, at, water("eleven")),
            event(7, at, water("11.0001")),                                      # finer than the column
            event(8, at, {"card": "1A00C3D5E7"}, kind="card.read"),
            event(9, at, water("11.2")),                                         # same meter, same instant
            event(10, at, water("11", meter_time="yesterday")),
        ])
        assert counts == {"stored": 1, "unbound": 2, "invalid": 5, "ignored": 1, "conflict": 1}
        assert len(await _stored(conn)) == 1


async def test_units_quality_and_the_meter_s_own_clock(engine, demo):
    async with engine.begin() as conn:
        power = await make_point(conn, demo["3-1202"], "3-1202 power", kind="electricity", limit="999999.99",
                                 max_per_day="100")
        await fit(conn, power, "E-001", local(2026, 9, 1), "1000", gateway="gw-1", device="bus-1")
        received = local(2026, 9, 2, 9)
        assert await readings_from_event(conn, event(
            1, received, {"meter": "e-001-addr", "value": "1012340", "unit": "Wh",
                          "meter_time": "2026-09-02T08:59:30+08:00"}, device="bus-1")) == "stored"
        assert await readings_from_event(conn, event(
            2, local(2026, 9, 2, 10), {"value": "1013.5", "unit": "kWh", "quality": ["estimated"]},
            device="bus-1")) == "stored"
        assert await readings_from_event(conn, event(
            3, local(2026, 9, 2, 11), {"value": "1014", "unit": "kWh", "quality": "checksum-retry"},
            device="bus-1")) == "stored"
        rows = await _stored(conn)
        assert rows[0][:3] == ("E-001", local(2026, 9, 2, 8, 59).replace(second=30), Decimal("1012.340"))
        assert rows[1][3] == ["estimated"] and rows[2][3] == ["invalid"]
        note = await conn.scalar(select(MeterReading.note).where(MeterReading.event_seq == 3))
        assert note == "meter quality checksum-retry"


async def test_a_bus_device_reads_many_meters_by_their_ids(engine, demo):
    async with engine.begin() as conn:
        one = await make_point(conn, demo["3-1201"], "one")
        two = await make_point(conn, demo["3-1202"], "two")
        await fit(conn, one, "W-1", local(2026, 9, 1), gateway="gw-1", device="mbus-0001")
        await fit(conn, two, "W-2", local(2026, 9, 1), gateway="gw-1", device="mbus-0002")
        at = local(2026, 9, 2)
        assert await readings_from_event(conn, event(1, at, water("1", meter="mbus-0002"), device="mbus")) == "stored"
        assert [r[0] for r in await _stored(conn)] == ["W-2"]


async def test_events_follow_the_binding_across_a_replacement(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 8, 20), "100", gateway="gw-1", device="wm-3-1201")
        assert await readings_from_event(conn, event(1, local(2026, 9, 1), water("110"))) == "stored"
        await meters.replace_meter(conn, OFFICE, point, meters.MeterReplace(
            at=local(2026, 9, 15), old_final="125", new=meters.NewMeter(serial="W-002", first_reading="0")))
        # A late event from before the replacement still belongs to the old meter.
        late = event(2, local(2026, 9, 10), water("120"))
        later = event(3, local(2026, 10, 1), water("15"))
        counts = await readings_from_events(conn, [late, later])
        assert counts == {"stored": 2}
        assert [(r[0], r[2]) for r in await _stored(conn)] == [
            ("W-001", Decimal("110.000")), ("W-001", Decimal("120.000")), ("W-002", Decimal("15.000"))]
        result = await service.consumption(conn, point, month_period("2026-09", ZoneInfo("Asia/Shanghai")))
        assert result["status"] == "ok" and result["quantity"] == Decimal("30.000")


async def test_rows_read_back_from_the_events_table(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 9, 1), gateway="gw-1", device="wm-3-1201")
        for seq in (7, 8):
            row = event(seq, local(2026, 9, 2, seq).astimezone(Z), water(f"{seq}.5"))
            row.pop("id")
            await conn.execute(insert(Event).values(**row))
        stored = (await conn.execute(select(Event).order_by(Event.seq))).all()
        assert await readings_from_events(conn, stored) == {"stored": 2}
        assert await readings_from_events(conn, stored) == {"duplicate": 2}
