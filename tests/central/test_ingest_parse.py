"""parse_uplink: one MQTT payload in, storable envelopes and reasoned rejections out, every sequence accounted."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

from central.ingest.parse import parse_uplink
from estatelink import wire

TOPIC = wire.parse_topic("estate/demo/gw/gate-1/up/access")
AT = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


def event(seq: int, *, estate: str = "demo", gateway: str = "gate-1", kind: str = "card.read",
          data: dict | None = None, **overrides) -> dict:
    body = wire.envelope_dict(estate=estate, gateway=gateway, seq=seq, device="main-gate-reader", kind=kind,
                              data=data if data is not None else {"card": f"{seq:010X}"},
                              received_at=AT + timedelta(seconds=seq))
    return {**body, **overrides}


def batch(*events: dict, estate: str = "demo", gateway: str = "gate-1", stream: str = "access") -> bytes:
    return orjson.dumps({"v": 1, "estate": estate, "gateway": gateway, "stream": stream, "events": list(events)})


def test_a_good_batch_gives_every_event_and_accounts_every_sequence():
    sent = [event(1), event(2, device_time="2026-11-27T15:59:00+08:00"), event(3, data={"card": "1A00C3D5E7"})]
    result = parse_uplink(TOPIC, batch(*sent))
    assert result.rejected == []
    assert (result.estate, result.gateway) == ("demo", "gate-1")
    assert [e.seq for e in result.events] == [1, 2, 3]
    for got, raw in zip(result.events, sent):
        assert str(got.id) == raw["id"]
        assert (got.estate, got.gateway, got.device, got.kind) == ("demo", "gate-1", "main-gate-reader", "card.read")
        assert got.received_at == datetime.fromisoformat(raw["received_at"])
        assert got.data == raw["data"]
    assert result.events[1].device_time == datetime(2026, 11, 27, 7, 59, tzinfo=timezone.utc)
    assert result.accounted() == {1, 2, 3}


def test_malformed_json_is_rejected_whole():
    payload = b'{"v": 1, "estate": "demo", "gateway": "gate-1", "events": ['
    result = parse_uplink(TOPIC, payload)
    (rejected,) = result.rejected
    assert rejected.reason.startswith("malformed JSON")
    assert rejected.payload == payload and rejected.seq is None
    assert result.events == [] and result.accounted() == set()
    assert result.estate is None, "nothing settles for anyone"


def test_a_payload_that_is_not_a_batch_is_rejected_naming_what_is_wrong():
    result = parse_uplink(TOPIC, orjson.dumps({"v": 1, "hello": "world"}))
    (rejected,) = result.rejected
    assert rejected.reason.startswith("not a batch")
    for missing in ("estate", "gateway", "stream", "events"):
        assert missing in rejected.reason
    assert result.events == [] and result.accounted() == set()

    empty = parse_uplink(TOPIC, batch())
    (rejected,) = empty.rejected
    assert rejected.reason.startswith("not a batch") and "events" in rejected.reason

    wrong_version = parse_uplink(TOPIC, orjson.dumps({**orjson.loads(batch(event(1))), "v": 2}))
    assert wrong_version.events == [] and wrong_version.rejected[0].reason.startswith("not a batch: v")


def _padded_batch(size: int) -> bytes:
    """A valid one-event batch of exactly `size` bytes."""
    bare = batch(event(1, data={"pad": ""}))
    payload = batch(event(1, data={"pad": "x" * (size - len(bare))}))
    assert len(payload) == size
    return payload


def test_an_oversized_payload_is_rejected_before_parsing():
    over = _padded_batch(wire.MAX_PAYLOAD_BYTES + 1)
    result = parse_uplink(TOPIC, over)
    (rejected,) = result.rejected
    assert rejected.reason == (f"payload of {wire.MAX_PAYLOAD_BYTES + 1} bytes exceeds the "
                               f"{wire.MAX_PAYLOAD_BYTES}-byte limit")
    assert rejected.payload == over
    assert result.events == [] and result.accounted() == set()

    at_limit = parse_uplink(TOPIC, _padded_batch(wire.MAX_PAYLOAD_BYTES))
    assert at_limit.rejected == [] and [e.seq for e in at_limit.events] == [1], "exactly 1 MiB is allowed"


def test_a_batch_claiming_another_gateway_is_rejected_whole():
    other = parse_uplink(TOPIC, batch(event(3, gateway="gate-2"), gateway="gate-2"))
    (rejected,) = other.rejected
    assert "claims gateway demo/gate-2 but arrived on the topic of demo/gate-1" in rejected.reason
    assert other.events == [] and other.accounted() == set() and other.estate is None

    other_estate = parse_uplink(TOPIC, batch(event(3, estate="north"), estate="north"))
    assert "claims gateway north/gate-1" in other_estate.rejected[0].reason
    assert other_estate.events == [] and other_estate.accounted() == set()


def test_one_bad_event_among_good_ones_is_rejected_alone_and_its_seq_accounted():
    result = parse_uplink(TOPIC, batch(event(4), event(5, kind="NOT A KIND"), event(6)))
    assert [e.seq for e in result.events] == [4, 6]
    (rejected,) = result.rejected
    assert rejected.reason.startswith("invalid event: kind")
    assert (rejected.estate, rejected.gateway, rejected.seq) == ("demo", "gate-1", 5)
    assert orjson.loads(rejected.payload)["kind"] == "NOT A KIND"
    assert result.accounted() == {4, 5, 6}


def test_each_bad_field_is_named():
    naive = event(7, received_at="2026-11-27T08:00:00")
    no_device = {k: v for k, v in event(8).items() if k != "device"}
    extra = event(9, colour="red")
    bad_id = event(10, id="not-a-uuid")
    result = parse_uplink(TOPIC, batch(event(6), naive, no_device, extra, bad_id))
    assert [e.seq for e in result.events] == [6]
    reasons = {r.seq: r.reason for r in result.rejected}
    assert set(reasons) == {7, 8, 9, 10}
    assert reasons[7].startswith("invalid event: received_at") and "offset" in reasons[7]
    assert reasons[8].startswith("invalid event: device")
    assert reasons[9].startswith("invalid event: colour")
    assert reasons[10].startswith("invalid event: id")
    assert result.accounted() == {6, 7, 8, 9, 10}


def test_a_bad_event_claiming_another_gateway_is_not_accounted_here():
    stray_bad = event(12, gateway="gate-2", kind="NOT A KIND")
    stray_good = event(13, gateway="gate-2")
    result = parse_uplink(TOPIC, batch(event(11), stray_bad, stray_good, event(14)))
    assert [e.seq for e in result.events] == [11, 14]
    assert len(result.rejected) == 2
    assert all(r.seq is None for r in result.rejected), "gate-2's numbers must not settle gate-1's"
    assert any(r.reason.startswith("invalid event") for r in result.rejected)
    assert any("event seq 13 claims gateway demo/gate-2" in r.reason for r in result.rejected)
    assert result.accounted() == {11, 14}


def test_an_unnumbered_bad_event_settles_nothing():
    no_seq = {k: v for k, v in event(1).items() if k != "seq"}
    zero = event(0)
    result = parse_uplink(TOPIC, batch(event(15), no_seq, zero))
    assert [e.seq for e in result.events] == [15]
    assert len(result.rejected) == 2 and all(r.seq is None for r in result.rejected)
    assert result.accounted() == {15}


def test_a_tombstone_accounts_for_its_whole_run():
    tomb = event(20, kind="outbox.dropped",
                 data={"to_seq": 219, "count": 200, "kinds": {"meter.reading": 200}}, device="gateway")
    result = parse_uplink(wire.parse_topic("estate/demo/gw/gate-1/up/system"),
                          batch(tomb, event(220, kind="system.started", data={}), stream="system"))
    assert result.rejected == []
    assert [e.seq for e in result.events] == [20, 220]
    assert result.events[0].kind == "outbox.dropped"
    assert result.accounted() == set(range(20, 221))

    lone = parse_uplink(TOPIC, batch(event(5, kind="outbox.dropped", data={"to_seq": 5, "count": 1, "kinds": {}})))
    assert lone.accounted() == {5}
