"""A meter.reading event from a gateway becomes a reading of the meter bound to that gateway's device."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from estatelink import wire
from tests.central.test_api import batch, publish
from tests.support.services import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
TOPIC = wire.uplink_topic("demo", "gate-2", "metering")


def meter_event(seq: int, at: datetime, value: str, meter: str = "water-1201") -> dict:
    return wire.envelope_dict(estate="demo", gateway="gate-2", seq=seq, device="meter-bus-1", kind="meter.reading",
                              data={"meter": meter, "value": value, "unit": "m3", "quality": []}, received_at=at)


def test_readings_arrive_through_ingest_once_each(mosquitto, central):
    assert central.api("/estates", method="POST", body={"code": "demo", "name": "Demo"})[0] == 201
    assert central.api("/estates/demo/buildings", method="POST", body={"code": "3"})[0] == 201
    status, unit = central.api("/estates/demo/units", method="POST", body={"building": "3", "number": "1201"})
    assert status == 201, unit
    status, point = central.api("/estates/demo/meter-points", method="POST", body={
        "kind": "water", "name": "3-1201 water", "unit_id": unit["id"], "register_limit": "99999.999",
        "max_per_day": "5"})
    assert status == 201, point
    installed = datetime.now(timezone.utc) - timedelta(hours=2)
    status, meter = central.api(f"/meter-points/{point['id']}/meters", method="POST", body={
        "serial": "W-0001", "first_reading": "10.000", "installed_at": installed.isoformat(),
        "gateway": "gate-2", "device": "water-1201"})
    assert status == 201, meter

    now = datetime.now(timezone.utc) - timedelta(minutes=30)
    events = [meter_event(1, now, "10.250"), meter_event(2, now + timedelta(minutes=10), "10.400"),
              meter_event(3, now, "1.000", meter="nobody's-meter")]
    publish(mosquitto.port, [batch(TOPIC, events), batch(TOPIC, events[:2])])   # the second is a redelivery

    def readings():
        status, body = central.api(f"/meter-points/{point['id']}/readings")
        assert status == 200, body
        gateway = [r for r in body["items"] if r["source"] == "gateway"]
        return gateway if len(gateway) >= 2 else None
    found = wait_until(readings, 15, message="two readings from the gateway")
    assert sorted(r["value"] for r in found) == ["10.250", "10.400"]

    def counted():
        status, health = central.api("/health")
        ingest = health["ingest"]
        return ingest if ingest.get("metering_duplicate", 0) >= 2 else None
    ingest = wait_until(counted, 15, message="the redelivered readings counted at /health")
    assert {k: v for k, v in ingest.items() if k.startswith("metering_")} == {
        "metering_stored": 2, "metering_duplicate": 2, "metering_unbound": 1}
    warnings = [line for line in central.output().splitlines() if "not stored (unbound)" in line]
    assert len(warnings) == 1 and "gate-2 meter-bus-1/nobody's-meter" in warnings[0], central.output()[-3000:]
    assert "bind its meter" in warnings[0]
