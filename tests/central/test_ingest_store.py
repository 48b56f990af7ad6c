"""Ingest storing groups of messages in process: odd but parseable batches never cost the good ones."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
import pytest
from sqlalchemy import select

from central.config import CentralConfig
from central.ingest.service import Ingest
from central.live import LiveFeed
from central.models import DeadLetter, Event
from estatelink import wire

TOPIC = wire.uplink_topic("demo", "gate-1", "access")
AT = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


@dataclass
class Message:
    topic: str
    payload: bytes


class Broker:
    """Stands in for the aiomqtt client: keeps what ingest publishes."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, **_: object) -> None:
        self.published.append((topic, payload))


def event(seq: int, **overrides) -> dict:
    body = wire.envelope_dict(estate="demo", gateway="gate-1", seq=seq, device="main-gate-reader",
                              kind="card.read", data={"card": f"{seq:010X}"}, received_at=AT)
    return {**body, **overrides}


def batch(*events: dict) -> Message:
    return Message(TOPIC, orjson.dumps({"v": 1, "estate": "demo", "gateway": "gate-1", "stream": "access",
                                        "events": list(events)}))


async def ingest_group(engine, *messages: Message) -> Ingest:  # noqa: ANN001
    ingest = Ingest(CentralConfig(), engine, consumers={})
    ingest.live = LiveFeed()
    await ingest._commit(Broker(), *ingest._parse(list(messages)))
    return ingest


async def stored(engine) -> list[int]:  # noqa: ANN001
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(Event.seq))).scalars())


async def reasons(engine) -> list[str]:  # noqa: ANN001
    async with engine.connect() as conn:
        return list((await conn.execute(select(DeadLetter.reason))).scalars())


@pytest.mark.parametrize("bad", [
    {"seq": 2**63}, {"data": {"note": "nul \u0000 here"}}, {"device": "reader\u0000"}, {"data": {"k\u0000": 1}}])
async def test_an_unstorable_event_is_dead_lettered_and_its_neighbours_stored(engine, bad):
    await ingest_group(engine, batch(event(1)), batch({**event(2), **bad}), batch(event(3)))
    assert await stored(engine) == [1, 3]
    assert any("invalid event" in r for r in await reasons(engine))


async def test_a_seq_repeated_in_one_batch_reaches_the_console_once(engine):
    ingest = Ingest(CentralConfig(), engine, consumers={})
    feed = ingest.live = LiveFeed()
    watcher = feed.watch("demo")
    await ingest._commit(Broker(), *ingest._parse([batch(event(1), event(1), event(2)), batch(event(2))]))
    assert await stored(engine) == [1, 2]
    assert [e["seq"] for e in await watcher.next_batch(0.1)] == [1, 2]


@pytest.mark.parametrize("topic, state", [
    (wire.state_topic("e" * 70, "gate-1"), {"v": 1, "status": "online"}),
    (wire.state_topic("demo", "Gate 1"), {"v": 1, "status": "online"}),
    (wire.state_topic("demo", "gate-2"), {"v": 1, "status": "online", "devices": {"reader": {"note": "\u0000"}}}),
])
async def test_an_unstorable_gateway_state_is_dead_lettered_and_the_batch_beside_it_stored(engine, topic, state):
    await ingest_group(engine, batch(event(1)), Message(topic, orjson.dumps(state)))
    assert await stored(engine) == [1]
    assert len(await reasons(engine)) == 1


async def test_a_consumer_with_any_bug_is_skipped_and_the_events_stored(engine):
    async def attribute_bug(conn, rows):  # noqa: ANN001, ANN202
        return None.count  # type: ignore[attr-defined]

    ingest = Ingest(CentralConfig(), engine, consumers={"attribute_bug": attribute_bug})
    await ingest._commit(Broker(), *ingest._parse([batch(event(1))]))
    assert await stored(engine) == [1]
    assert ingest.counters["consumer_failures_attribute_bug"] == 1
