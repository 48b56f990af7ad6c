"""The access runtime in process, with the real outbox and cache and a stand-in OSDP bus: anti-passback
through a gate pair sharing one lock, reader feedback, single use across a restart, the offline policy."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from drivers.base import DeviceEvent
from edge_config import parse_config
from estatelink import wire
from gateway.access import AccessCache
from gateway import access_runtime
from gateway.access_runtime import AccessRuntime
from gateway.capture import AsyncOutbox, Capture
from gateway.commands import CommandRouter
from gateway.outbox import Outbox
from tests.access_edge.helpers import reference_checksum, wire_credential, wire_door
from tests.access_gateway.support import PASS_KEY, visitor_pass

KEY_HEX = PASS_KEY.public_key().public_bytes_raw().hex()
CARD, STAFF = "62E3086CED", "0001191993"


def config_text(offline: str = "") -> str:
    return f"""
[estate]
id = "demo"
[gateway]
id = "gate-1"
[uplink]
broker = "mqtt://127.0.0.1:1"
[outbox]
path = "outbox.sqlite"
synchronous = "normal"
[access]
cache_path = "access.sqlite"
pass_public_key = "{KEY_HEX}"
{offline}
[[devices]]
id = "osdp"
driver = "osdp_bus"
port = "/dev/ttyUSB5"
readers = [{{id = "in", address = 1, scbk_file = "scbk"}}, {{id = "out", address = 2, scbk_file = "scbk"}}]
[[devices]]
id = "qr"
driver = "ascii_reader"
port = "/dev/ttyACM0"
format = "text_line"
[[devices]]
id = "io"
driver = "modbus_io"
port = "tcp://127.0.0.1:1502"
[[doors]]
id = "lobby"
lock = {{modbus = "io", coil = 0}}
contact = {{modbus = "io", input = 3}}
[[doors]]
id = "gate-in"
readers = ["osdp/in"]
qr_reader = "qr"
lock = {{osdp = "osdp/in", output = 0}}
unlock_s = 3
[[doors]]
id = "gate-out"
readers = ["osdp/out"]
lock = {{osdp = "osdp/in", output = 0}}
"""


RECORDS = {
    "door_groups": [{"id": "gates", "name": "Gates"}],
    "schedules": [],
    "doors": [wire_door("gate-in", {"gates": None}, {"direction": "in", "zone": "estate"}),
              wire_door("gate-out", {"gates": None}, {"direction": "out", "zone": "estate"})],
    "credentials": [wire_credential(CARD, "r-1", groups=["gates"]),
                    wire_credential(STAFF, "s-1", kind="staff", groups=["gates"])],
}


class FakeOsdpBus:
    """What the runtime sees of an OSDP bus adapter: feedback() and output()."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def feedback(self, pd: str | int, granted: bool) -> list[str]:
        self.calls.append(("feedback", pd, granted))
        return []

    async def output(self, pd: str | int, output_no: int, on_ms: int) -> None:
        self.calls.append(("output", pd, output_no, on_ms))


class Harness:
    def __init__(self, tmp_path: Path, offline: str = "") -> None:
        (tmp_path / "scbk").write_text("00112233445566778899aabbccddeeff\n")
        self.config = parse_config(config_text(offline), base_dir=tmp_path)
        self.outbox = AsyncOutbox(Outbox(tmp_path / "outbox.sqlite", estate="demo", gateway="gate-1",
                                         synchronous="normal"))
        self.capture = Capture(self.outbox, lambda captured: None)
        self.router = CommandRouter()
        self.bus: FakeOsdpBus | None = FakeOsdpBus()
        self.runtime = AccessRuntime(self.config, self.capture, self.router,
                                     lambda device: self.bus if device == "osdp" else None)
        self.tasks = [asyncio.create_task(self.capture.run()), asyncio.create_task(self.runtime.run())]
        self.closed = False

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.outbox.close()

    async def tap(self, pd: str, card: str = CARD) -> None:
        await self.runtime.emitter("osdp")(DeviceEvent("card.read", {"card": card, "format": "wiegand26",
                                                                     "reader": "osdp", "pd": pd}))

    async def contact(self, on: bool, initial: bool = False) -> None:
        await self.runtime.emitter("io")(DeviceEvent("io.input", {"input": 3, "on": on, "initial": initial}))

    async def scan(self, text: str) -> None:
        await self.runtime.emitter("qr")(DeviceEvent("card.read", {"card": text, "format": "text_line"}))

    async def events(self, kind: str) -> list[dict[str, Any]]:
        rows = await self.outbox.call(self.outbox.outbox.read_after, 0, limit=1000)
        return [e["data"] for e in (orjson.loads(row.body) for row in rows) if e["kind"] == kind]

    async def command(self, name: str, **args: Any) -> wire.Reply:
        issued = wire.utc_now()
        command = wire.Command(id=uuid.uuid4(), name=name, issuer="guard:li", issued_at=issued,
                               expires_at=issued + timedelta(seconds=30), args=args)
        reply = await self.router.handle(name, wire.dumps(command))
        assert reply is not None
        return reply


def seed(tmp_path: Path, synced_days_ago: float = 0) -> None:
    cache = AccessCache(tmp_path / "access.sqlite")
    cache.replace_all({"version": 4, "checksum": reference_checksum(RECORDS), "records": RECORDS},
                      synced_at=wire.utc_now() - timedelta(days=synced_days_ago))
    cache.close()


@pytest.fixture
async def harness(tmp_path) -> AsyncIterator[Harness]:
    seed(tmp_path)
    rig = Harness(tmp_path)
    yield rig
    await rig.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_a_gate_pair_keeps_anti_passback_and_shares_its_lock(harness):
    await harness.tap("in")
    await harness.tap("in")   # already inside: refused
    await harness.tap("out")  # leaving through the exit reader: the same lock
    await settle()
    decisions = await harness.events("access.decision")
    assert [(d["door"], d["reader"], d["reason"]) for d in decisions] == [
        ("gate-in", "osdp/in", "granted"), ("gate-in", "osdp/in", "anti_passback"), ("gate-out", "osdp/out", "granted")]
    assert harness.bus.calls == [
        ("output", "in", 0, 3000), ("feedback", "in", True), ("feedback", "in", False),
        ("output", "in", 0, 5000), ("feedback", "out", True)]
    states = await harness.events("door.state")
    assert {s["door"] for s in states} == {"gate-in", "gate-out"}, "a grant at one reader releases both doors"


async def test_a_passage_survives_a_restart(tmp_path, harness):
    await harness.tap("in")
    await settle()
    await harness.close()
    again = Harness(tmp_path)
    try:
        await again.tap("in")
        await settle()
        assert [d["reason"] for d in await again.events("access.decision")] == ["granted", "anti_passback"]
    finally:
        await again.close()


async def test_a_single_use_pass_stays_used_across_a_restart(tmp_path, harness):
    text = visitor_pass(42, door="gate-in")
    await harness.scan(text)
    await settle()
    await harness.close()
    again = Harness(tmp_path)
    try:
        await again.scan(text)
        await again.scan(visitor_pass(43, single_use=False, door="gate-in"))
        await again.scan(visitor_pass(43, single_use=False, door="gate-in"))
        await settle()
        assert [(d["reason"], d["pass_id"]) for d in await again.events("access.decision")] == [
            ("granted", 42), ("pass_used", 42), ("granted", 43), ("granted", 43)]
    finally:
        await again.close()


async def test_door_open_drives_the_osdp_output_and_says_who_asked(harness):
    reply = await harness.command("door_open", door="gate-out", seconds=8)
    assert (reply.status, reply.detail) == ("ok", "door gate-out released for 8 s")
    assert harness.bus.calls == [("output", "in", 0, 8000)]
    assert await harness.events("access.remote_open") == [
        {"door": "gate-out", "command_id": str(reply.command_id), "issuer": "guard:li"}]
    harness.bus = None  # the bus is restarting
    failed = await harness.command("door_open", door="gate-in")
    assert failed.status == "failed" and "osdp is not running" in failed.detail
    await harness.tap("out", STAFF)  # decided and logged all the same
    await settle()
    assert [d["reason"] for d in await harness.events("access.decision")] == ["granted"]


async def test_after_too_long_offline_only_staff_pass_until_central_says_current(tmp_path):
    seed(tmp_path, synced_days_ago=3)
    rig = Harness(tmp_path, offline='offline_mode = "staff_only"\noffline_days = 2')
    try:
        await rig.tap("in")
        await rig.tap("in", STAFF)
        reply = await rig.command("access_current", version=4)
        assert (reply.status, reply.detail) == ("ok", "version 4")
        await rig.tap("out")
        await settle()
        assert [(d["card"], d["reason"]) for d in await rig.events("access.decision")] == [
            (CARD, "gateway_offline_too_long"), (STAFF, "granted"), (CARD, "granted")]
        state = await rig.runtime.state()
        assert state["version"] == 4 and state["checksum"] == reference_checksum(RECORDS)
    finally:
        await rig.close()


async def test_contact_readings_drive_the_door_and_a_restarted_module_is_judged_afresh(harness):
    await harness.contact(True, initial=True)   # closed (normally-closed contact reads on)
    await harness.contact(False)                # opened, nobody tapped
    await harness.contact(False, initial=True)  # the driver restarted: the door is still open, no new alarm
    await harness.runtime.emitter("io")(DeviceEvent("device.offline", {"device": "io"}))
    await settle()
    states = [(s["open"], s["locked"]) for s in await harness.events("door.state") if s["door"] == "lobby"]
    assert states == [(False, True), (True, True), (None, True), (True, True), (None, True)]
    assert await harness.events("door.forced") == [{"door": "lobby"}]
    assert await harness.events("device.offline") == [{"device": "io"}], "the alarm is captured too"
    assert await harness.events("io.input") == [], "contact readings are the runtime's, not the outbox's"


async def test_a_failing_purge_of_used_passes_is_logged_and_counted_and_the_runtime_goes_on(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(access_runtime, "PURGE_EVERY_S", 0.01)
    seed(tmp_path)
    rig = Harness(tmp_path)
    try:
        def broken(now):
            raise RuntimeError("dictionary changed size during iteration")

        rig.runtime.cache.purge_used_passes = broken
        for _ in range(100):
            if rig.runtime.purge_failures >= 2:
                break
            await asyncio.sleep(0.01)
        assert rig.runtime.purge_failures >= 2
        assert "purging expired single-use passes failed" in caplog.text
        assert not any(task.done() for task in rig.tasks), "the runtime's task is still running"
        await rig.tap("in")
        await settle()
        assert [d["reason"] for d in await rig.events("access.decision")] == ["granted"]
    finally:
        await rig.close()
