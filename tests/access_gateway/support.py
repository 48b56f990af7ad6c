"""A door rig for end-to-end tests: a gateway process with a card reader and a QR reader on real ptys, a
Modbus I/O simulator over TCP, and a stand-in for central's ingest on a real Mosquitto.

The stand-in (`CentralStandIn`) does what central's ingest does for a gateway and nothing more: it stores
each event once by sequence number, acks the highest contiguous one, keeps the latest state and the command
replies, and publishes commands as central would. The tests that need central itself start it.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from estatelink import wire
from gateway.access import AccessCache
from gateway.access.visitor_pass import issue
from simulators.card_reader import PtyCardReader
from simulators.modbus_io import ModbusIoSim, ThreadedModbusIoSim
from tests.access_edge.helpers import reference_checksum, wire_credential, wire_door, wire_schedule
from tests.support.services import Process, wait_until

ESTATE, GATEWAY = "demo", "gate-1"
DOOR, LOCK_COIL, CONTACT_INPUT = "b3-lobby", 2, 1
PASS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
"""Central's visitor-pass signing key in these tests; the gateway is configured with its public half."""
GRANTED, EXPIRED, NIGHT_ONLY, GYM_ONLY, SUSPENDED, LOST, UNKNOWN = (
    "62E3086CED", "1A00C3D5E7", "0000000A01", "0000000A02", "0000000A03", "0000000A04", "0BADC0FFEE")


def estate_records(*, lost: tuple[str, ...] = ()) -> dict[str, list[dict[str, Any]]]:
    """The test estate: one lobby door and a card for each decision reason."""
    def card(number: str, holder: str, groups: list[str], state: str = "active", **kw: Any) -> dict[str, Any]:
        return wire_credential(number, holder, groups=groups, state="lost" if number in lost else state, **kw)
    return {
        "door_groups": [{"id": g, "name": g.title()} for g in ("lobby", "night", "gym")],
        "schedules": [wire_schedule("never", {})],
        "doors": [wire_door(DOOR, {"lobby": None, "night": "never"}), wire_door("gym", {"gym": None})],
        "credentials": [
            card(GRANTED, "r-1", ["lobby"]),
            card(EXPIRED, "r-2", ["lobby"], valid_until="2020-01-01T00:00:00Z"),
            card(NIGHT_ONLY, "r-3", ["night"]),
            card(GYM_ONLY, "r-4", ["gym"]),
            card(SUSPENDED, "r-5", ["lobby"], state="suspended"),
            card(LOST, "r-6", ["lobby"], state="lost"),
        ],
    }


def seed_cache(path: Path, version: int = 1, records: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """Load the cache file as a snapshot would, before the gateway starts."""
    records = records or estate_records()
    cache = AccessCache(path)
    try:
        cache.replace_all({"version": version, "checksum": reference_checksum(records), "records": records})
    finally:
        cache.close()


def visitor_pass(pass_id: int, *, key: Ed25519PrivateKey = PASS_KEY, single_use: bool = True,
                 door: str = DOOR) -> str:
    """A pass for one door (the lobby's by default), valid from an hour ago for a day."""
    now = datetime.now(UTC)
    return issue(key, estate=ESTATE, pass_id=pass_id, valid_from=now - timedelta(hours=1),
                 valid_until=now + timedelta(days=1), doors=frozenset({door}), single_use=single_use)


def gateway_toml(*, broker_url: str, workdir: Path, reader: str, qr: str, io_port: int, unlock_s: float = 1.0,
                 held_open_s: float = 30.0, heartbeat_s: float = 1.0, gateway: str = GATEWAY, door: str = DOOR,
                 pass_key: str | None = None) -> str:
    public = pass_key or PASS_KEY.public_key().public_bytes_raw().hex()
    return f"""
config_version = "access-test"
[estate]
id = "{ESTATE}"
[gateway]
id = "{gateway}"
[uplink]
broker = "{broker_url}"
ack_timeout_s = 2.0
heartbeat_s = {heartbeat_s}
reconnect_min_s = 0.2
reconnect_max_s = 1.0
[outbox]
path = "{workdir / 'outbox.sqlite'}"
synchronous = "normal"
[access]
cache_path = "{workdir / 'access.sqlite'}"
pass_public_key = "{public}"

[[devices]]
id = "lobby-reader"
driver = "ascii_reader"
port = "{reader}"
[[devices]]
id = "lobby-qr"
driver = "ascii_reader"
port = "{qr}"
format = "text_line"
[[devices]]
id = "door-io"
driver = "modbus_io"
port = "tcp://127.0.0.1:{io_port}"
inputs = 4
coils = 4
poll_ms = 50
timeout_ms = 300
retry_s = 0.3
backoff_max_s = 1.0

[[doors]]
id = "{door}"
name = "Block 3 lobby"
readers = ["lobby-reader"]
qr_reader = "lobby-qr"
lock = {{modbus = "door-io", coil = {LOCK_COIL}}}
contact = {{modbus = "door-io", input = {CONTACT_INPUT}}}
unlock_s = {unlock_s}
held_open_s = {held_open_s}
"""


class CentralStandIn:
    """Central's ingest for one gateway, over MQTT: stores events once by seq, acks, records replies."""

    def __init__(self, port: int) -> None:
        self.events: dict[int, dict[str, Any]] = {}
        self.received = 0
        self.state: dict[str, Any] | None = None
        self.replies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"central-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.1, 1.0)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        prefix = wire.gateway_prefix(ESTATE, GATEWAY)
        client.subscribe([(f"{prefix}/up/+", 1), (f"{prefix}/state", 1), (f"{prefix}/reply", 1)])

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        body = orjson.loads(message.payload)
        with self._lock:
            if message.topic.endswith("/state"):
                self.state = body
            elif message.topic.endswith("/reply"):
                self.replies.append(body)
            else:
                for event in body["events"]:
                    self.received += 1
                    self.events.setdefault(event["seq"], event)
                acked = 0
                while acked + 1 in self.events:
                    acked += 1
                client.publish(wire.ack_topic(ESTATE, GATEWAY), orjson.dumps({"v": 1, "acked": acked}), qos=1,
                               retain=True)

    # --- what a test asks ------------------------------------------------------------------------------

    def stored(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Stored events in sequence order, optionally of one kind."""
        with self._lock:
            return [self.events[seq] for seq in sorted(self.events) if kind is None or self.events[seq]["kind"] == kind]

    def wait_stored(self, kind: str, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Stored events of a kind, once there are at least `count` of them."""
        def enough() -> list[dict[str, Any]] | None:
            found = self.stored(kind)
            return found if len(found) >= count else None
        return wait_until(enough, timeout, message=f"{count} stored {kind} event(s)")

    def command(self, name: str, args: dict[str, Any], *, ttl_s: float = 60.0, issuer: str = "central/test") -> str:
        """Publish a command as central would; returns its id."""
        issued = wire.utc_now()
        command = wire.Command(id=uuid.uuid4(), name=name, issuer=issuer, issued_at=issued,
                               expires_at=issued + timedelta(seconds=ttl_s), args=args)
        self._client.publish(wire.command_topic(ESTATE, GATEWAY, name), wire.dumps(command), qos=1).wait_for_publish(5)
        return str(command.id)

    def reply(self, command_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The gateway's reply to a command, waiting for it."""
        def find() -> dict[str, Any] | None:
            with self._lock:
                return next((r for r in self.replies if r["command_id"] == command_id), None)
        return wait_until(find, timeout, message=f"the reply to command {command_id}")

    def ask(self, name: str, args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Send a command and wait for its reply."""
        return self.reply(self.command(name, args, **kwargs))

    def devices_online(self, *devices: str, started_after: datetime | None = None) -> bool:
        """Whether the last heartbeat (of a process started after `started_after`) shows these devices online."""
        state = self.state or {}
        found = state.get("devices") or {}
        started = state.get("started_at")
        fresh = started_after is None or (started is not None and datetime.fromisoformat(started) > started_after)
        return state.get("status") == "online" and fresh and all(
            (found.get(d) or {}).get("state") == "online" for d in devices)


@dataclass
class DoorRig:
    """The gateway process and its devices; `start()` waits until the gateway reports them all online."""

    workdir: Path
    broker_url: str
    central: CentralStandIn | None = None
    unlock_s: float = 1.0
    held_open_s: float = 30.0
    gateway_id: str = GATEWAY
    door: str = DOOR
    pass_key: str | None = None
    """Central's visitor-pass public key (hex or base64); the tests' PASS_KEY by default."""
    reader: PtyCardReader = field(init=False)
    qr: PtyCardReader = field(init=False)
    sim: ModbusIoSim = field(init=False)
    gateway: Process = field(init=False)

    def __post_init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.reader = self._stack.enter_context(PtyCardReader("em4100"))
        self.qr = self._stack.enter_context(PtyCardReader("text_line"))
        self._io = ThreadedModbusIoSim(inputs=4, coils=4)
        self.sim = self._io.sim
        self.sim.inputs = [True] * 4  # every door closed: a normally-closed contact reads on
        self._io.start()
        self._stack.callback(self._io.stop)
        config = self.workdir / "gw.toml"
        config.write_text(gateway_toml(broker_url=self.broker_url, workdir=self.workdir, reader=self.reader.port,
                                       qr=self.qr.port, io_port=self._io.port, unlock_s=self.unlock_s,
                                       held_open_s=self.held_open_s, gateway=self.gateway_id, door=self.door,
                                       pass_key=self.pass_key))
        self.gateway = Process(["gateway", "--config", str(config)], self.workdir / "gateway.log")

    def start(self, timeout: float = 40.0) -> None:
        """Start the gateway; with a stand-in, wait until its heartbeat shows every device online."""
        started = datetime.now(UTC)
        self.gateway.start()
        if self.central is not None:
            central = self.central
            wait_until(lambda: central.devices_online("lobby-reader", "lobby-qr", "door-io", started_after=started),
                       timeout, message=f"the gateway's devices online:\n{self.gateway.output()[-2000:]}")

    def stop(self) -> None:
        self.gateway.stop()

    def close(self) -> None:
        self.gateway.stop()
        self._stack.close()

    def tap(self, card: str) -> float:
        """Present a card; returns time.monotonic() taken just before the frame is written.

        Not after: on a loaded machine this thread can wait for the GIL past the gateway's whole decision, and
        the I/O simulator's thread would stamp the lock write earlier than a clock read after the write.
        """
        before = time.monotonic()
        self.reader.write_frame(card)
        return before

    def open_door(self) -> None:
        self.sim.set_input(CONTACT_INPUT, False)

    def close_door(self) -> None:
        self.sim.set_input(CONTACT_INPUT, True)

    def outbox_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Events still in the gateway's outbox (not yet acked), read without disturbing the gateway."""
        path = self.workdir / "outbox.sqlite"
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            try:
                rows = db.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
            except sqlite3.OperationalError:
                return []
        events = [orjson.loads(body) for (body,) in rows]
        return [e for e in events if kind is None or e["kind"] == kind]


def decisions(events: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    """(card, granted, reason) of each access.decision, in order."""
    return [(e["data"]["card"], e["data"]["granted"], e["data"]["reason"]) for e in events
            if e["kind"] == "access.decision"]
