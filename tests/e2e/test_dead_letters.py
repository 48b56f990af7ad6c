"""Bad uplink payloads are dead-lettered with their reason; valid traffic around them is stored and acked."""
from __future__ import annotations


import orjson
import paho.mqtt.client as mqtt

from estatelink import wire
from tests.support.services import wait_until

TOPIC = wire.uplink_topic("demo", "gate-1", "access")


def event(seq: int, gateway: str = "gate-1", **overrides) -> dict:
    body = wire.envelope_dict(estate="demo", gateway=gateway, seq=seq, device="main-gate-reader",
                              kind="card.read", data={"card": f"{seq:010X}", "format": "em4100"},
                              received_at=wire.utc_now())
    return {**body, **overrides}


def batch(*events: dict, gateway: str = "gate-1") -> bytes:
    return orjson.dumps({"v": 1, "estate": "demo", "gateway": gateway, "stream": "access", "events": list(events)})


def publish_all(port: int, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(TOPIC, payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_bad_payloads_are_dead_lettered_and_good_ones_stored(mosquitto, central):
    oversized = batch(*(event(100 + i, data={"pad": "x" * 2000}) for i in range(600)))
    assert len(oversized) > wire.MAX_PAYLOAD_BYTES
    publish_all(mosquitto.port, [
        batch(event(1), event(2)),
        b'{"v": 1, "estate": "demo", "gateway": "gate-1", "events": [',    # malformed JSON
        orjson.dumps({"v": 1, "hello": "world"}),                          # wrong schema
        oversized,
        batch(event(3, gateway="gate-2"), gateway="gate-2"),               # another gateway's id on this topic
        batch(event(3), event(4)),
        batch(event(5, kind="NOT A KIND"), event(6)),                       # one bad event inside a good batch
    ])

    events = wait_until(lambda: _at_least(central.all_events(), 5), 20, message="five good events")
    assert sorted(e["seq"] for e in events) == [1, 2, 3, 4, 6]
    assert all(e["gateway"] == "gate-1" for e in events)

    letters = wait_until(lambda: _at_least(central.api("/dead-letters")[1]["items"], 5), 20,
                         message="five dead letters")
    reasons = sorted(letter["reason"] for letter in letters)
    assert any(r.startswith("malformed JSON") for r in reasons)
    assert any(r.startswith("not a batch") and "events" in r for r in reasons)
    assert any("exceeds the 1048576-byte limit" in r for r in reasons)
    assert any("claims gateway demo/gate-2 but arrived on the topic of demo/gate-1" in r for r in reasons)
    bad_event = [letter for letter in letters if letter["reason"].startswith("invalid event")]
    assert len(bad_event) == 1 and bad_event[0]["seq"] == 5 and "kind" in bad_event[0]["reason"]

    def acked():
        _, body = central.api("/gateways")
        return next((g["acked_seq"] for g in body["items"] if g["gateway"] == "gate-1"), 0) == 6
    wait_until(acked, 10, message="central to ack through seq 6 (5 was dead-lettered, not lost in a gap)")
    status, health = central.api("/health")
    assert status == 200 and health["broker"] == "connected"


def _at_least(items, n):
    return items if len(items) >= n else None
