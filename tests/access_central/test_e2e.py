"""A real central process and a real Mosquitto, with a gateway played by hand around a real AccessCache:
a lost card reaches it within 2 s, an old version gets a delta, a refusal a snapshot, a door open its reply."""
from __future__ import annotations

import queue
import time
import uuid
from datetime import datetime

import orjson
import paho.mqtt.client as mqtt

from estatelink import wire
from gateway.access import AccessCache, VersionMismatch, decide
from tests.support.services import wait_until

PROPAGATION_LIMIT_S = 2.0


class FakeGateway:
    """The MQTT side of gateway gate-1 of estate demo, applying what central sends to a real cache."""

    def __init__(self, port: int, cache: AccessCache) -> None:
        self.cache = cache
        self.received: queue.Queue[tuple[float, str, dict]] = queue.Queue()
        self._parts: dict[int, dict] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(f"{wire.gateway_prefix('demo', 'gate-1')}/down/+", qos=1)[1]
        time.sleep(0.3)  # let the subscription settle before anything is published to it

    def _on_message(self, _client, _userdata, message) -> None:  # noqa: ANN001
        command = orjson.loads(message.payload)
        status, detail = self._run(command)
        self.received.put((time.monotonic(), command["name"], command))
        reply = {"v": 1, "command_id": command["id"], "name": command["name"], "status": status, "detail": detail,
                 "at": wire.utc_now().isoformat()}
        self.client.publish(wire.reply_topic("demo", "gate-1"), orjson.dumps(reply), qos=1)

    def _run(self, command: dict) -> tuple[str, str]:
        args = command["args"]
        if command["name"] == "access_delta":
            try:
                self.cache.apply_delta(args)
            except VersionMismatch:
                return "refused", f"at version {self.cache.version}"
            return "ok", f"version {self.cache.version}"
        if command["name"] == "access_snapshot":
            self._parts[args["part"]] = args["records"]
            if args["part"] < args["parts"]:
                return "ok", f"part {args['part']}/{args['parts']}"
            records: dict[str, list] = {}
            for number in range(1, args["parts"] + 1):
                for kind, items in self._parts.pop(number).items():
                    records.setdefault(kind, []).extend(items)
            self.cache.replace_all({"version": args["version"], "checksum": args["checksum"], "records": records})
            return "ok", f"part {args['parts']}/{args['parts']}: version {args['version']}"
        return "ok", "done"

    def report_state(self, version: int | None = None, checksum: str | None = None) -> None:
        access = {"version": self.cache.version if version is None else version,
                  "checksum": checksum or self.cache.checksum(), "last_synced_at": None}
        state = {"v": 1, "status": "online", "at": wire.utc_now().isoformat(), "access": access}
        self.client.publish(wire.state_topic("demo", "gate-1"), orjson.dumps(state), qos=1,
                            retain=True).wait_for_publish(5)

    def reply(self, name: str, status: str, detail: str) -> None:
        reply = {"v": 1, "command_id": str(uuid.uuid4()), "name": name, "status": status, "detail": detail,
                 "at": wire.utc_now().isoformat()}
        self.client.publish(wire.reply_topic("demo", "gate-1"), orjson.dumps(reply), qos=1).wait_for_publish(5)

    def next(self, name: str, timeout: float = 10.0) -> tuple[float, dict]:
        deadline = time.monotonic() + timeout
        while True:
            at, got, command = self.received.get(timeout=max(0.01, deadline - time.monotonic()))
            if got == name:
                return at, command

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def setup_estate(central) -> dict:
    def ok(path: str, body: dict, method: str = "POST") -> dict:
        status, answer = central.api(path, method=method, body=body)
        assert status in (200, 201), (path, answer)
        return answer
    ok("/estates", {"code": "demo", "name": "Demo"})
    person = ok("/estates/demo/residents", {"name": "Wang Fang"})
    ok("/estates/demo/access/door-groups", {"code": "gates", "name": "Gates"})
    door = ok("/estates/demo/access/doors", {"code": "gate-in", "gateway": "gate-1", "name": "Gate",
                                              "readers": ["gate-reader"], "groups": {"gates": None}})
    card = ok("/estates/demo/access/cards", {"card": "62E3086CED", "resident_id": person["id"],
                                             "door_groups": ["gates"]})
    return {"door": door, "card": card}


def central_state(central) -> tuple[int, str]:
    status, shown = central.api("/estates/demo/access/sync")
    assert status == 200, shown
    return shown["version"], shown["checksum"]


def test_lost_card_old_versions_refusals_and_remote_open(mosquitto, central, tmp_path):
    made = setup_estate(central)
    version = made["card"]["access_version"]
    wait_until(lambda: central.api("/estates/demo/access/sync")[1]["gateways"][0]["sent_version"] == version, 10,
               message="the set-up changes published (to nobody yet)")
    cache = AccessCache(tmp_path / "gate-1" / "access.sqlite")
    gateway = FakeGateway(mosquitto.port, cache)
    try:
        gateway.report_state()  # a new gateway at version 0: the log reaches back, so a delta
        _, delta = gateway.next("access_delta")
        assert (delta["args"]["from_version"], delta["args"]["to_version"]) == (0, version)
        assert (cache.version, cache.checksum()) == central_state(central)
        assert decide(cache.view, "gate-in", "62E3086CED", wire.utc_now()).granted

        started = time.monotonic()
        status, lost = central.api(f"/access/cards/{made['card']['id']}/report-lost", method="POST", body={})
        assert status == 200, lost
        arrived, delta = gateway.next("access_delta", timeout=PROPAGATION_LIMIT_S + 3)
        elapsed = arrived - started
        print(f"\nlost card: API call to access_delta at the gateway in {elapsed * 1000:.0f} ms")
        assert elapsed < PROPAGATION_LIMIT_S
        assert delta["args"]["upserts"]["credentials"][0]["state"] == "lost"
        assert decide(cache.view, "gate-in", "62E3086CED", wire.utc_now()).reason == "lost"

        gateway.reply("access_delta", "refused", "at version 1")  # as if it had fallen behind: a snapshot
        _, snapshot = gateway.next("access_snapshot")
        assert (snapshot["args"]["part"], snapshot["args"]["parts"]) == (1, 1)
        assert (cache.version, cache.checksum()) == central_state(central)
        wait_until(lambda: central.api("/estates/demo/access/sync")[1]["gateways"][0]["reply_status"] == "ok", 10)

        status, opened = central.api(f"/access/doors/{made['door']['id']}/open", method="POST",
                                     body={"reason": "visitor"})
        assert status == 202, opened
        _, door_open = gateway.next("door_open")
        issued, expires = (datetime.fromisoformat(door_open[k]) for k in ("issued_at", "expires_at"))
        assert (expires - issued).total_seconds() == 30 and door_open["issuer"] == "admin"
        assert door_open["args"] == {"door": "gate-in", "seconds": 5} and door_open["id"] == opened["command_id"]
        done = wait_until(lambda: (lambda a: a if a["status"] == "ok" else None)(
            central.api(f"/access/remote-opens/{opened['id']}")[1]), 10, message="the door_open reply stored")
        assert done["replied_at"] is not None
        status, audit = central.api("/audit?entity=remote_open")
        assert status == 200 and [e["action"] for e in audit["items"]] == ["remote_open.reply"]
    finally:
        gateway.close()
        cache.close()
