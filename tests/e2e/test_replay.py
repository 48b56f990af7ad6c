"""Central notices a sequence gap, asks the gateway to replay it, and acks once the gap is filled."""
from __future__ import annotations

import queue
from datetime import datetime

import orjson
import paho.mqtt.client as mqtt

from estatelink import wire
from tests.e2e.test_dead_letters import batch, event


class FakeGateway:
    """A gateway's MQTT side, played by hand: publishes batches, records what central sends down."""

    def __init__(self, port: int) -> None:
        self.received: queue.Queue[tuple[str, dict]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, msg: self.received.put((msg.topic, orjson.loads(msg.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        prefix = wire.gateway_prefix("demo", "gate-1")
        self.client.subscribe([(f"{prefix}/down/+", 1), (f"{prefix}/ack", 1)])

    def publish(self, *seqs: int) -> None:
        topic = wire.uplink_topic("demo", "gate-1", "access")
        self.client.publish(topic, batch(*(event(s) for s in seqs)), qos=1).wait_for_publish(10)

    def next_message(self, topic_suffix: str, timeout: float, where=lambda body: True) -> dict:
        while True:
            topic, body = self.received.get(timeout=timeout)
            if topic.endswith(topic_suffix) and where(body):
                return body

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_gap_is_replayed_on_request_and_then_acked(mosquitto, central):
    gateway = FakeGateway(mosquitto.port)
    try:
        gateway.publish(1, 2, 3)
        assert gateway.next_message("/ack", 10, lambda b: b["acked"] == 3)
        gateway.publish(7, 8, 9)
        replay = gateway.next_message("/down/replay", 10)
        assert replay["name"] == "replay" and replay["issuer"] == "central/ingest"
        assert replay["args"]["ranges"] == [[4, 6]]
        issued, expires = (datetime.fromisoformat(replay[k]) for k in ("issued_at", "expires_at"))
        assert expires > issued
        gateway.publish(4, 5, 6)
        assert gateway.next_message("/ack", 10, lambda b: b["acked"] == 9)
        gateway.publish(2, 3)   # a resend of what central holds: the ack is repeated, nothing is stored twice
        assert gateway.next_message("/ack", 10, lambda b: b["acked"] == 9)
    finally:
        gateway.close()
    assert sorted(e["seq"] for e in central.all_events()) == list(range(1, 10))
