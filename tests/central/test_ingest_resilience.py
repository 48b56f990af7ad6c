"""Ingest outlives a bug met while handling one group of messages: it reconnects and takes in the resend."""
from __future__ import annotations

import asyncio
import contextlib

import orjson
from sqlalchemy import select

from central.config import BrokerConfig, CentralConfig
from central.ingest.service import Ingest
from central.models import Event
from estatelink import wire
from tests.central.test_api import publish

TOPIC = wire.uplink_topic("demo", "gate-1", "access")


class IngestWithABug(Ingest):
    """Ingest whose parser fails on the first group it meets, as a bug in some odd message's handling would."""

    def _parse(self, messages):  # noqa: ANN001, ANN202
        if not self.counters["session_failures"]:
            raise RuntimeError("a bug in handling this group")
        return super()._parse(messages)


def batch(seq: int) -> tuple[str, bytes]:
    event = wire.envelope_dict(estate="demo", gateway="gate-1", seq=seq, device="main-gate-reader",
                               kind="card.read", data={"card": f"{seq:010X}"}, received_at=wire.utc_now())
    return TOPIC, orjson.dumps({"v": 1, "estate": "demo", "gateway": "gate-1", "stream": "access", "events": [event]})


async def wait_for(predicate, timeout: float = 15.0):  # noqa: ANN001, ANN201
    async with asyncio.timeout(timeout):
        while not (value := await predicate()):
            await asyncio.sleep(0.05)
        return value


async def test_a_bug_in_one_group_costs_a_reconnect_not_ingest(engine, mosquitto):
    config = CentralConfig(broker=BrokerConfig(url=mosquitto.url, client_id="central-resilience"))
    ingest = IngestWithABug(config, engine, consumers={})
    running = asyncio.create_task(ingest.run())
    try:
        await asyncio.wait_for(ingest.connected.wait(), 15)
        await asyncio.to_thread(publish, mosquitto.port, [batch(1)])

        async def failed_once() -> bool:
            return ingest.counters["session_failures"] == 1
        await wait_for(failed_once)
        assert not running.done(), "ingest ended on the bug"
        await asyncio.wait_for(ingest.connected.wait(), 15)

        async def stored() -> list[int]:
            async with engine.connect() as conn:
                return list((await conn.execute(select(Event.seq))).scalars())
        await asyncio.to_thread(publish, mosquitto.port, [batch(1)])  # the gateway's resend: nothing was acked
        assert await wait_for(stored) == [1]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
