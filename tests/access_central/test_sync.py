"""The sync publisher with a recording broker: what each change, gateway state and reply makes central send."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import orjson
import pytest

from central.access import cards, changelog
from central.access.sync import AccessSync
from central.models import GatewayRecord
from estatelink import wire
from gateway.access import AccessCache
from tests.access_central.conftest import OFFICE
from tests.access_central.test_changelog import snapshot_message


class Recorder:
    """Stands in for ingest's publish: keeps (topic, command) pairs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, wire.Command, dict]] = []

    async def __call__(self, topic: str, payload: bytes) -> None:
        assert len(payload) <= wire.MAX_PAYLOAD_BYTES
        command = wire.loads(wire.Command, payload)
        assert wire.parse_topic(topic).name == command.name == topic.rsplit("/", 1)[1]
        self.sent.append((topic, command, orjson.loads(payload)["args"]))

    def take(self) -> list[tuple[str, str, dict]]:
        out = [(wire.parse_topic(topic).gateway, command.name, args) for topic, command, args in self.sent]
        self.sent.clear()
        return out


@pytest.fixture
async def sync(engine, demo):
    recorder = Recorder()
    sync = AccessSync(engine, recorder)
    sync.recorder = recorder
    async with engine.begin() as conn:  # gate-2 has reported to central but drives no door
        await conn.execute(GatewayRecord.__table__.insert().values(estate="demo", gateway="gate-2", acked_seq=0,
                                                                   status="online"))
    task = asyncio.create_task(sync.run())
    yield sync
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def state(version: int, checksum: str, synced: str | None = None) -> wire.GatewayState:
    return wire.GatewayState(status="online", at=wire.utc_now(),
                             access={"version": version, "checksum": checksum, "last_synced_at": synced})


def topic(gateway: str = "gate-1", channel: str = "state") -> wire.Topic:
    return wire.Topic("demo", gateway, channel)


async def lose_a_card(engine, demo) -> int:
    async with engine.begin() as conn:
        card = await cards.issue_card(conn, OFFICE, "demo", cards.CardIssue(card="62E3086CED", resident_id=demo.wang))
        lost = await cards.act(conn, OFFICE, card["id"], "report_lost", cards.CardAction())
    return lost["access_version"]


async def test_a_committed_change_goes_to_every_gateway_of_the_estate(engine, demo, sync):
    version = await lose_a_card(engine, demo)
    sync.changed("demo", version)
    await sync.drain()
    sent = sync.recorder.take()
    assert [(gw, name) for gw, name, _ in sent] == [("gate-1", "access_delta"), ("gate-2", "access_delta")]
    args = sent[0][2]
    assert (args["from_version"], args["to_version"]) == (version - 1, version)
    assert args["upserts"]["credentials"][0]["state"] == "lost"
    sync.changed("demo", version)  # announced twice (a no-op change reports the version it found)
    await sync.drain()
    assert sync.recorder.take() == []


async def test_a_gateway_behind_gets_the_delta_from_its_version(engine, demo, sync):
    async with engine.connect() as conn:
        old = await changelog.state(conn, "demo")
    version = await lose_a_card(engine, demo)
    sync.on_state(topic(), state(*old))
    await sync.drain()
    [(gateway, name, args)] = sync.recorder.take()
    assert (gateway, name, args["from_version"], args["to_version"]) == ("gate-1", "access_delta", old[0], version)
    sync.on_state(topic(), state(*old))  # the same (stale) heartbeat again: already on its way
    await sync.drain()
    assert sync.recorder.take() == []


@pytest.mark.parametrize("case", ["checksum", "ahead", "compacted"])
async def test_a_snapshot_when_a_delta_cannot_do(engine, demo, sync, case, tmp_path):
    async with engine.begin() as conn:
        version, checksum = await changelog.state(conn, "demo")
        report = {"checksum": (version, "0" * 64), "ahead": (version + 5, checksum), "compacted": (2, checksum)}[case]
        if case == "compacted":
            await changelog.compact(conn, "demo", 5)
    sync.on_state(topic(), state(*report))
    await sync.drain()
    sent = sync.recorder.take()
    assert [name for _, name, _ in sent] == ["access_snapshot"]
    args = sent[0][2]
    assert (args["version"], args["part"], args["parts"], args["checksum"]) == (version, 1, 1, checksum)
    cache = AccessCache(tmp_path / "gw.sqlite")
    cache.replace_all({"version": args["version"], "checksum": args["checksum"], "records": args["records"]})
    assert (cache.version, cache.checksum()) == (version, checksum)
    cache.close()


async def test_a_refused_delta_gets_a_snapshot_and_a_current_gateway_a_confirmation(engine, demo, sync):
    version = await lose_a_card(engine, demo)
    refused = wire.Reply(command_id=uuid.uuid4(), name="access_delta", status="refused", detail="at version 3",
                         at=wire.utc_now())
    for _ in range(3):  # deltas queued behind the first are refused too: one snapshot answers them all
        sync.on_reply(topic(channel="reply"), wire.dumps(refused.model_copy(update={"command_id": uuid.uuid4()})))
    await sync.drain()
    [(gateway, name, args)] = sync.recorder.take()
    assert (gateway, name, args["version"]) == ("gate-1", "access_snapshot", version)
    stale = refused.model_copy(update={"detail": f"at version {version}"})  # already current: nothing to do
    sync.on_reply(topic(channel="reply"), wire.dumps(stale))
    await sync.drain()
    assert sync.recorder.take() == []

    async with engine.connect() as conn:
        current = await changelog.state(conn, "demo")
    long_ago = (wire.utc_now() - timedelta(hours=3)).isoformat()
    sync.on_state(topic("gate-2"), state(*current, synced=long_ago))
    sync.on_state(topic("gate-2"), state(*current, synced=wire.utc_now().isoformat()))
    await sync.drain()
    assert sync.recorder.take() == [("gate-2", "access_current", {"version": version})]


async def test_bad_states_and_replies_are_counted_not_fatal(engine, demo, sync):
    sync.on_state(topic(), wire.GatewayState(status="online", access={"version": "seven"}))
    sync.on_state(topic(), wire.GatewayState(status="offline", access={"version": 1, "checksum": "x"}))
    sync.on_reply(topic(channel="reply"), b"{not json")
    await sync.drain()
    assert sync.recorder.take() == []
    assert (sync.counters["bad_states"], sync.counters["bad_replies"]) == (1, 1)
    snap = await _snapshot(engine)
    assert snap["version"] == 7


async def _snapshot(engine) -> dict:
    async with engine.connect() as conn:
        return snapshot_message(await changelog.snapshot(conn, "demo"))
