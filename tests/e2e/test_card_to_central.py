"""A card frame on a real pty becomes one stored event in central, with every envelope field right."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from simulators.card_reader import PtyCardReader
from tests.support.gateway_config import write_gateway_config
from tests.support.services import Process, wait_until


def test_card_frame_reaches_central_with_every_field(tmp_path, mosquitto, central):
    with PtyCardReader(fmt="em4100") as reader:
        config = write_gateway_config(tmp_path / "gw.toml", broker_url=mosquitto.url,
                                      outbox=tmp_path / "outbox.sqlite", reader_port=reader.port)
        gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
        gateway.start()
        try:
            wait_until(lambda: _reader_online(central), 20, message="the reader to report online")
            before = datetime.now(timezone.utc)
            reader.write_frame("1A00C3D5E7")
            events = wait_until(lambda: central.all_events(kind="card.read"), 15, message="the card.read event")
            after = datetime.now(timezone.utc)
        finally:
            gateway.stop()

    assert len(events) == 1
    event = events[0]
    uuid.UUID(event["id"])
    assert (event["estate"], event["gateway"], event["device"]) == ("demo", "gate-1", "main-gate-reader")
    assert event["seq"] == 1
    assert event["kind"] == "card.read"
    assert event["data"]["card"] == "1A00C3D5E7"
    assert event["data"]["format"] == "em4100"
    assert event["device_time"] is None  # an RDM6300 has no clock
    received = datetime.fromisoformat(event["received_at"].replace("Z", "+00:00"))
    stored = datetime.fromisoformat(event["stored_at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= received <= after
    assert received <= stored <= after + timedelta(seconds=1)


def test_corrupted_frames_are_counted_and_the_next_good_one_is_read(tmp_path, mosquitto, central):
    with PtyCardReader(fmt="em4100") as reader:
        config = write_gateway_config(tmp_path / "gw.toml", broker_url=mosquitto.url,
                                      outbox=tmp_path / "outbox.sqlite", reader_port=reader.port)
        gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
        gateway.start()
        try:
            wait_until(lambda: _reader_online(central), 20, message="the reader to report online")
            reader.write_raw(b"\x021A00C3D5E700\x03")      # bad checksum
            reader.write_raw(b"\x021A00C3")                 # truncated: a new frame starts before ETX
            reader.write_frame("0102030405")
            reader.write_raw(b"garbage between frames")     # noise
            reader.write_frame("A1B2C3D4E5")
            events = wait_until(lambda: _n(central.all_events(kind="card.read"), 2), 15, message="two good reads")
            device = wait_until(lambda: _rejections(central), 15, message="rejection counters in the heartbeat")
        finally:
            gateway.stop()
    assert [e["data"]["card"] for e in events] == ["0102030405", "A1B2C3D4E5"]
    assert [e["seq"] for e in events] == [1, 2]
    assert device["frames_ok"] == 2
    assert device["rejections"].get("bad_checksum") == 1
    assert device["rejections"].get("truncated") == 1
    assert device["rejections"].get("noise") == 1


def _n(items, count):
    return items if len(items) >= count else None


def _device_state(central):
    status, body = central.api("/gateways")
    for gw in body.get("items", []):
        if gw["gateway"] == "gate-1" and gw["state"] and gw["state"].get("devices"):
            return gw["state"]["devices"].get("main-gate-reader")
    return None


def _reader_online(central):
    device = _device_state(central)
    return device and device["state"] == "online"


def _rejections(central):
    device = _device_state(central)
    return device if device and device["frames_rejected"] >= 3 else None


def test_a_tap_at_an_attendance_point_clocks_the_staff_member_in(tmp_path, mosquitto, central):
    assert central.api("/estates", method="POST", body={"code": "demo", "name": "Demo"})[0] == 201
    status, member = central.api("/estates/demo/staff", method="POST", body={"name": "刘师傅", "position": "保安"})
    assert status == 201, member
    assert central.api(f"/staff/{member['id']}/cards", method="POST", body={"card": "1A00C3D5E7"})[0] == 201
    assert central.api("/estates/demo/attendance-points", method="POST", body={
        "gateway": "gate-1", "device": "main-gate-reader", "direction": "in"})[0] == 201
    with PtyCardReader(fmt="em4100") as reader:
        config = write_gateway_config(tmp_path / "gw.toml", broker_url=mosquitto.url,
                                      outbox=tmp_path / "outbox.sqlite", reader_port=reader.port)
        gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
        gateway.start()
        try:
            wait_until(lambda: _reader_online(central), 20, message="the reader to report online")
            reader.write_frame("0102030405")            # nobody's card: an event, no attendance
            reader.write_frame("1A00C3D5E7")
            wait_until(lambda: _n(central.all_events(kind="card.read"), 2), 15, message="both reads stored")
        finally:
            gateway.stop()
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")   # the estate's month
    status, records = central.api(f"/staff/{member['id']}/attendance?month={month}")
    assert status == 200, records
    assert [(r["kind"], r["source"], r["device"], r["event_seq"]) for r in records["items"]] == [
        ("in", "reader", "main-gate-reader", 2)]
