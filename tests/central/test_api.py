"""The REST API of a real central process fed through a real broker, on SQLite and on PostgreSQL."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import orjson
import paho.mqtt.client as mqtt
from openapi_spec_validator import validate

from central.app import create_app
from central.config import CentralConfig
from estatelink import wire
from tests.support.services import wait_until

BASE = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
PLUS8 = timezone(timedelta(hours=8))
GATE1 = wire.uplink_topic("demo", "gate-1", "access")
GATE2 = wire.uplink_topic("demo", "gate-2", "metering")
NORTH = wire.uplink_topic("north", "gate-1", "access")


def card(seq: int, at: datetime, *, estate: str = "demo", device: str = "main-gate-reader") -> dict:
    return wire.envelope_dict(estate=estate, gateway="gate-1", seq=seq, device=device, kind="card.read",
                              data={"card": f"{seq:010X}", "format": "em4100"}, received_at=at)


def reading(seq: int, at: datetime) -> dict:
    return wire.envelope_dict(estate="demo", gateway="gate-2", seq=seq, device="water-meter-1",
                              kind="meter.reading", data={"m3": 100 + seq}, received_at=at)


def batch(topic: str, events: list[dict]) -> tuple[str, bytes]:
    parts = wire.parse_topic(topic)
    return topic, orjson.dumps({"v": 1, "estate": parts.estate, "gateway": parts.gateway, "stream": parts.name,
                                "events": events})


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def when(event: dict) -> datetime:
    return datetime.fromisoformat(event["received_at"].replace("Z", "+00:00"))


def key(event: dict) -> tuple[str, str, int]:
    return event["estate"], event["gateway"], event["seq"]


def get(central, **params) -> tuple[int, dict]:
    return central.api("/events?" + urlencode(params) if params else "/events")


def pages(central, limit: int, **params) -> list[list[dict]]:
    """Every page of a query, following next_cursor, as the API hands them out."""
    result, cursor = [], None
    while True:
        status, page = get(central, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert status == 200, page
        result.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return result
        assert len(result) < 100, "pagination does not end"


def test_events_filters_order_pagination_and_errors(mosquitto, central):
    gate1 = [card(seq, BASE + timedelta(minutes=seq), device="main-gate-reader" if seq % 2 else "side-gate-reader")
             for seq in range(1, 21)]
    gate1.append(card(21, BASE + timedelta(minutes=5, microseconds=-1)))  # a hair before 08:05
    gate1.append(card(22, BASE + timedelta(minutes=10)))                   # exactly 08:10
    gate2 = [reading(seq, (BASE + timedelta(minutes=2 * seq, seconds=30)).astimezone(PLUS8)) for seq in range(1, 9)]
    north = [card(seq, BASE + timedelta(minutes=seq), estate="north") for seq in range(1, 6)]
    publish(mosquitto.port, [batch(GATE1, gate1[i:i + 5]) for i in range(0, len(gate1), 5)]
            + [batch(GATE2, gate2), batch(NORTH, north)])
    sent = {key(e): e for e in gate1 + gate2 + north}
    assert len(sent) == 35

    stored = wait_until(lambda: _exactly(central.all_events(), 35), 20, message="all 35 events stored")
    assert {key(e) for e in stored} == set(sent)

    # Each event comes back as it was sent; receive times in UTC whatever offset the gateway used.
    for event in stored:
        original = sent[key(event)]
        assert (event["id"], event["device"], event["kind"], event["data"]) == (
            original["id"], original["device"], original["kind"], original["data"])
        assert event["received_at"].endswith("Z") and when(event) == datetime.fromisoformat(original["received_at"])
        assert event["device_time"] is None

    # Default order: oldest stored first (each gateway's batches were published in sequence order).
    status, page = get(central, limit=1000)
    assert status == 200 and page["next_cursor"] is None
    everything = page["items"]
    assert [key(e) for e in everything] == [key(e) for e in stored]
    for gateway in (("demo", "gate-1"), ("demo", "gate-2"), ("north", "gate-1")):
        seqs = [e["seq"] for e in everything if (e["estate"], e["gateway"]) == gateway]
        assert seqs == sorted(seqs)
    status, page = get(central, limit=1000, order="desc")
    assert status == 200 and [key(e) for e in page["items"]] == [key(e) for e in reversed(everything)]

    # Filters, alone and together.
    def keys(**params) -> set[tuple[str, str, int]]:
        status, body = get(central, limit=1000, **params)
        assert status == 200, body
        return {key(e) for e in body["items"]}

    assert keys(estate="north") == {("north", "gate-1", s) for s in range(1, 6)}
    assert keys(gateway="gate-2") == {("demo", "gate-2", s) for s in range(1, 9)}
    assert keys(gateway="gate-1") == {k for k in sent if k[1] == "gate-1"}
    assert keys(estate="demo", gateway="gate-1") == {("demo", "gate-1", s) for s in range(1, 23)}
    assert keys(kind="meter.reading") == keys(gateway="gate-2")
    assert keys(device="side-gate-reader") == {("demo", "gate-1", s) for s in range(2, 21, 2)}
    assert keys(estate="north", kind="meter.reading") == set()
    assert keys(device="no-such-device") == set()

    # since is inclusive, until exclusive, both on the gateway's receive time, offsets honoured.
    since, until = BASE + timedelta(minutes=5), BASE + timedelta(minutes=10)
    window = {k for k, e in sent.items() if since <= datetime.fromisoformat(e["received_at"]) < until}
    assert ("demo", "gate-1", 5) in window and ("demo", "gate-1", 21) not in window
    assert ("demo", "gate-1", 10) not in window and ("demo", "gate-2", 3) in window
    assert keys(since="2026-11-27T08:05:00Z", until="2026-11-27T08:10:00Z") == window
    assert keys(since="2026-11-27T16:05:00+08:00", until="2026-11-27T16:10:00+08:00") == window
    status, body = central.api("/events?limit=1000&since=2026-11-27T16:05:00+08:00")  # '+' left unescaped
    assert status == 200 and {key(e) for e in body["items"]} == {
        k for k, e in sent.items() if since <= datetime.fromisoformat(e["received_at"])}
    assert keys(until="2026-11-27T08:05:00Z") == {
        k for k, e in sent.items() if datetime.fromisoformat(e["received_at"]) < since}
    assert keys(since="2026-11-27T08:05:00Z", until="2026-11-27T08:05:00Z") == set()
    assert keys(gateway="gate-2", since="2026-11-27T08:06:30Z", until="2026-11-27T08:08:30.000001Z") == {
        ("demo", "gate-2", 3), ("demo", "gate-2", 4)}

    # Cursor pagination: every event exactly once, in order, in both directions and with filters.
    asc = pages(central, 7)
    assert [len(p) for p in asc] == [7, 7, 7, 7, 7], "35 events are five full pages and no empty sixth"
    assert [key(e) for p in asc for e in p] == [key(e) for e in everything]
    desc = pages(central, 6, order="desc")
    assert [len(p) for p in desc] == [6, 6, 6, 6, 6, 5]
    assert [key(e) for p in desc for e in p] == [key(e) for e in reversed(everything)]
    filtered = pages(central, 5, estate="demo", gateway="gate-1")
    assert [key(e) for p in filtered for e in p] == [key(e) for e in everything if e["estate"] == "demo"
                                                    and e["gateway"] == "gate-1"]
    assert [len(p) for p in pages(central, 1, gateway="gate-2")] == [1] * 8
    assert [len(p) for p in pages(central, 1000)] == [35]

    # Every mistake is a 400 whose message names the parameter.
    status, first = get(central, limit=7)
    asc_cursor = first["next_cursor"]
    forged_list = base64.urlsafe_b64encode(b"[1, 2]").decode()
    forged_after = base64.urlsafe_b64encode(orjson.dumps({"after": "x", "order": "asc"})).decode()
    mistakes = [
        ({"limit": "0"}, ["limit", "1..1000", "0"]),
        ({"limit": "1001"}, ["limit", "1..1000", "1001"]),
        ({"limit": "ten"}, ["limit", "integer"]),
        ({"colour": "red"}, ["colour", "allowed"]),
        ({"kind": "card.read", "sort": "seq"}, ["sort"]),
        ({"since": "2026-11-27T08:00:00"}, ["since", "offset"]),
        ({"until": "2026-11-27 08:00:00"}, ["until", "offset"]),
        ({"since": "yesterday"}, ["since", "ISO 8601", "yesterday"]),
        ({"order": "sideways"}, ["order", "sideways"]),
        ({"cursor": "garbage"}, ["cursor"]),
        ({"cursor": forged_list}, ["cursor"]),
        ({"cursor": forged_after}, ["cursor"]),
        ({"cursor": asc_cursor, "order": "desc"}, ["cursor", "order"]),
    ]
    for params, words in mistakes:
        status, body = get(central, **params)
        assert status == 400, (params, body)
        assert body["error"] == "bad_request", (params, body)
        for word in words:
            assert word in body["message"], (params, body["message"])
    status, body = central.api("/events?since=" + quote("2026-11-27T08:00:00"))
    assert "add Z or +08:00" in body["message"]


def test_health_gateways_and_openapi(mosquitto, central):
    status, health = central.api("/health")
    assert status == 200
    assert (health["status"], health["database"], health["broker"]) == ("ok", "ok", "connected")

    at = BASE
    publish(mosquitto.port, [
        batch(GATE1, [card(seq, at) for seq in (1, 2, 3, 4, 5)]),
        batch(GATE1, [card(7, at)]),                      # 6 is missing: the ack must stop at 5
        batch(GATE2, [reading(seq, at) for seq in (1, 2, 3)]),
    ])

    def acked() -> dict[str, int]:
        status, body = central.api("/gateways")
        assert status == 200, body
        return {f"{g['estate']}/{g['gateway']}": g["acked_seq"] for g in body["items"]}

    wait_until(lambda: acked() == {"demo/gate-1": 5, "demo/gate-2": 3}, 15, message="acks 5 and 3")
    publish(mosquitto.port, [batch(GATE1, [card(6, at)])])
    wait_until(lambda: acked() == {"demo/gate-1": 7, "demo/gate-2": 3}, 15, message="gate-1 acked through 7")
    status, body = central.api("/gateways?estate=north")
    assert status == 200 and body["items"] == []
    status, body = central.api("/gateways?estate=demo")
    assert [g["gateway"] for g in body["items"]] == ["gate-1", "gate-2"]

    status, document = central.api("/openapi.json")
    assert status == 200
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "/api/v1"}]

    served = set()
    for resource in create_app(CentralConfig()).router.resources():
        info = resource.get_info()
        if info.get("prefix") != "/api/v1":
            continue
        for sub in info["app"].router.resources():
            path = sub.canonical.removeprefix("/api/v1")
            served |= {(path, route.method.lower()) for route in sub if route.method != "HEAD"}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served, "the app serves nothing under /api/v1?"
    assert served == documented
    for path, method in sorted(documented):
        if method == "get" and "{" not in path:
            status, _body = central.api(path)
            assert status == 200, path
    events_params = {p["name"] for p in document["paths"]["/events"]["get"]["parameters"]}
    assert events_params == {"estate", "gateway", "kind", "device", "since", "until", "cursor", "limit", "order"}


def test_out_of_range_cursor_and_timestamps_are_bad_requests(central):
    huge = base64.urlsafe_b64encode(json.dumps({"after": 2**63, "order": "asc"}).encode()).decode()
    answers = {name: central.api(f"/events?{query}") for query, name in [
        (f"cursor={huge}", "cursor"),
        ("since=9999-12-31T23:59:59-01:00", "since"),      # valid, but past datetime.max in UTC
        ("until=0001-01-01T00:00:00%2B01:00", "until"),    # valid, but before datetime.min in UTC
    ]}
    assert {name: status for name, (status, _) in answers.items()} == {"cursor": 400, "since": 400, "until": 400}
    for name, (_, body) in answers.items():
        assert body["error"] == "bad_request" and body["message"].startswith(f"{name}:")


def _exactly(items: list, n: int):
    return items if len(items) == n else None
