"""The uplink's delivery logic against a fake MQTT client: acks, resends, renumbering and reconnect backoff."""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
import orjson
import pytest

from edge_config import load_config
from estatelink import wire
from gateway import uplink as uplink_module
from gateway.capture import AsyncOutbox
from gateway.commands import CommandRouter
from gateway.outbox import Outbox
from gateway.uplink import Uplink
from tests.gateway.test_outbox import card, meter
from tests.support.gateway_config import write_gateway_config


class FakeClient:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, **_) -> None:
        self.published.append((topic, payload))

    def seqs(self) -> list[int]:
        return [event["seq"] for topic, payload in self.published if "/up/" in topic
                for event in orjson.loads(payload)["events"]]


async def _no_state() -> dict:
    return {}


@pytest.fixture
def make_uplink(tmp_path: Path):
    made: list[AsyncOutbox] = []

    def make(outbox_path: Path | None = None, ack_timeout_s: float = 0.3) -> Uplink:
        config = load_config(write_gateway_config(
            tmp_path / "gw.toml", broker_url="mqtt://127.0.0.1:1", outbox=outbox_path or tmp_path / "outbox.sqlite",
            reader_port=None, ack_timeout_s=ack_timeout_s))
        box = AsyncOutbox(Outbox(config.outbox.path, estate="demo", gateway="gate-1"))
        made.append(box)
        return Uplink(config, box, CommandRouter(), _no_state)

    yield make
    for box in made:
        box.outbox.close()
        box._executor.shutdown(wait=True)


async def _run_send(uplink: Uplink, client: FakeClient, seconds: float) -> None:
    task = asyncio.create_task(uplink._send(client))
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def ack(n: int) -> bytes:
    return wire.dumps(wire.Ack(acked=n))


async def test_live_events_central_never_acked_are_resent_after_the_ack_timeout(make_uplink):
    uplink = make_uplink(ack_timeout_s=0.3)
    client = FakeClient()
    uplink._restart_from_acked()
    uplink.connected.set()
    captured = uplink.outbox.outbox.append_many([card(1), card(2), card(3)])
    uplink.offer_live(captured)
    await _run_send(uplink, client, 1.0)
    assert client.seqs().count(1) >= 2, f"sent {client.seqs()}: unacked live events must be resent"


async def test_a_stale_ack_beyond_what_this_outbox_sent_does_not_delete_unsent_events(make_uplink):
    uplink = make_uplink()
    box = uplink.outbox.outbox
    # a replaced (deleted) outbox captured 10 events offline; central's retained ack says it holds 1..5
    box.append_many([card(n) for n in range(1, 11)])
    await uplink._on_ack(ack(5))
    pending = box.read_after(box.acked)
    assert len(pending) == 10, "events never sent from this outbox were deleted by an ack for other events"
    assert all(row.seq > 5 for row in pending)


async def test_acks_for_what_was_sent_still_delete_after_a_restart(make_uplink, tmp_path):
    uplink = make_uplink()
    box = uplink.outbox.outbox
    box.append_many([card(n) for n in range(1, 11)])
    uplink._restart_from_acked()
    client = FakeClient()
    await _run_send(uplink, client, 0.1)
    assert client.seqs() == list(range(1, 11))
    box.close()
    uplink.outbox.outbox = box = Outbox(box.path, estate="demo", gateway="gate-1")   # gateway restarted
    await uplink._on_ack(ack(7))                  # central's retained ack for events sent before the restart
    assert [row.seq for row in box.read_after(box.acked)] == [8, 9, 10]
    assert box.next_seq == 11


async def delays_between_sessions(uplink, monkeypatch, error: Exception, sessions: int) -> list[float]:
    """Run the uplink's reconnect loop with every session failing at once with `error` (no jitter): the delays it
    waited between them, until the `sessions`-th wait."""
    delays: list[float] = []

    class Connecting:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

    async def session(client):
        raise error

    async def fake_sleep(delay):
        delays.append(delay)
        if len(delays) >= sessions:
            raise asyncio.CancelledError

    monkeypatch.setattr(uplink, "_client", Connecting)
    monkeypatch.setattr(uplink, "_session", session)
    monkeypatch.setattr(uplink_module.random, "uniform", lambda a, b: 1.0)
    monkeypatch.setattr(uplink_module.asyncio, "sleep", fake_sleep)
    with pytest.raises(asyncio.CancelledError):
        await uplink.run()
    return delays


async def test_a_session_that_drops_at_once_backs_off_instead_of_reconnecting_at_the_minimum(
        make_uplink, monkeypatch):
    delays = await delays_between_sessions(make_uplink(), monkeypatch,
                                           aiomqtt.MqttError("kicked: another client took this id"), 5)
    assert delays[-1] > delays[0] * 4, f"reconnect delays {delays}: a broker that drops us at once is a storm"


async def test_an_ack_to_the_end_of_a_sent_tombstone_is_a_plain_ack(make_uplink, tmp_path):
    uplink = make_uplink()
    box = uplink.outbox.outbox
    box.max_events = 2
    box.append_many([card(1)] + [meter(n) for n in range(2, 12)])   # 2..11 become one tombstone
    uplink._restart_from_acked()
    client = FakeClient()
    await _run_send(uplink, client, 0.1)
    assert sorted(client.seqs()) == [1, 2]
    await uplink._on_ack(ack(11))                  # central stored the tombstone's whole range
    assert box.read_after(box.acked) == [], "an ack for a sent range renumbered events"
    assert (box.next_seq, box.acked) == (12, 11)


async def test_an_outbox_error_in_a_session_reconnects_instead_of_ending_the_gateway(make_uplink, monkeypatch):
    import sqlite3
    delays = await delays_between_sessions(make_uplink(), monkeypatch,
                                           sqlite3.OperationalError("database is locked"), 2)
    assert len(delays) == 2


async def test_a_replay_arriving_while_a_backlog_batch_is_published_is_not_lost(make_uplink):
    from types import SimpleNamespace
    uplink = make_uplink(ack_timeout_s=60)
    box = uplink.outbox.outbox
    box.append_many([card(n) for n in range(1, 6)])
    uplink._restart_from_acked()
    release = asyncio.Event()

    class SlowClient(FakeClient):
        async def publish(self, topic, payload, **kwargs):
            await release.wait()
            await super().publish(topic, payload, **kwargs)

    client = SlowClient()
    task = asyncio.create_task(uplink._send(client))
    await asyncio.sleep(0.1)                      # the batch 1..5 is being published
    await uplink._on_replay(SimpleNamespace(args={"ranges": [[2, 3]]}))
    release.set()
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert client.seqs().count(2) == 2 and client.seqs().count(3) == 2, f"sent {client.seqs()}"


async def test_a_replay_reaching_past_the_last_event_does_not_resend_every_later_live_event(make_uplink):
    from types import SimpleNamespace
    uplink = make_uplink(ack_timeout_s=60)
    box = uplink.outbox.outbox
    box.append_many([card(n) for n in range(1, 4)])
    uplink._restart_from_acked()
    uplink.connected.set()
    client = FakeClient()
    await _run_send(uplink, client, 0.1)
    await uplink._on_replay(SimpleNamespace(args={"ranges": [[2, 10**9]]}))
    uplink.offer_live(box.append_many([card(n) for n in range(4, 7)]))
    await _run_send(uplink, client, 0.2)
    assert sorted(client.seqs()) == [1, 2, 2, 3, 3, 4, 5, 6], f"sent {sorted(client.seqs())}"
