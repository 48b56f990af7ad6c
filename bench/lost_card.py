"""Lost-card propagation: from the API call that reports a card lost to the first denial of that card at a gateway.

    .venv/bin/python -m bench.lost_card [--quick] [--trials 100] [--db sqlite,postgresql]

A real central (SQLite or a fresh PostgreSQL database), a real Mosquitto and a real gateway process with a card
reader on a pty and its lock on a simulated Modbus TCP I/O module (the door rig of tests/access_gateway).
Set-up through the API: a door group, the door, `--trials` residents each with a card; then the bench waits
until the gateway reports central's access version and checksum. Each trial: a tapper thread presents the
trial's card every `--tap-ms` on the pty from the instant the clock starts, the main thread calls
`POST /access/cards/{id}/report-lost`, and an MQTT subscriber watches the gateway's uplink for the first
`access.decision` of that card that is a denial. The figure is that decision's `received_at` (the gateway's
clock when it read the frame: the same machine's clock) minus the instant just before the API call, so it errs
long by up to one tap interval. Every tap before it was granted. Prints p50/p99/max per database and
writes its section of docs/benchmarks.md unless --quick. Target p99 ≤ 2 s.
"""
from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt

from bench import _common as c
from estatelink import wire
from tests.access_gateway.support import DOOR, ESTATE, GATEWAY, DoorRig
from tests.support.services import Central, Mosquitto, create_pg_database, drop_pg_database, wait_until

TARGET_P99_S = 2.0


class DecisionWatch:
    """Every access.decision the gateway publishes, as (card, granted, reason, received_at as epoch seconds)."""

    def __init__(self, port: int) -> None:
        self.decisions: queue.Queue[tuple[str, bool, str, float]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-watch-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(f"{wire.gateway_prefix(ESTATE, GATEWAY)}/up/+", qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("the MQTT subscription was not acknowledged")

    def _on_message(self, _client, _userdata, message) -> None:  # noqa: ANN001
        for event in orjson.loads(message.payload).get("events", []):
            if event.get("kind") == "access.decision":
                data = event["data"]
                at = datetime.fromisoformat(event["received_at"]).timestamp()
                self.decisions.put((data["card"], data["granted"], data["reason"], at))

    def first_denial(self, card: str, timeout: float) -> tuple[float, int]:
        """The first denial of `card` (its received_at) and how many grants of it came before."""
        deadline, grants = time.monotonic() + timeout, 0
        while True:
            got, granted, reason, at = self.decisions.get(timeout=max(0.01, deadline - time.monotonic()))
            if got != card:
                continue
            if not granted:
                if reason != "lost":
                    raise AssertionError(f"card {card} denied for {reason!r}, expected 'lost'")
                return at, grants
            grants += 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def keep_tapping(rig: DoorRig, card: str, interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        rig.reader.write_frame(card)
        stop.wait(interval)


def set_up(central: Central, trials: int) -> list[tuple[str, int]]:
    def ok(path: str, body: dict) -> dict:
        status, answer = central.api(path, method="POST", body=body)
        assert status in (200, 201), (path, answer)
        return answer
    ok("/estates", {"code": ESTATE, "name": "Bench"})
    ok(f"/estates/{ESTATE}/access/door-groups", {"code": "lobby", "name": "Lobby"})
    ok(f"/estates/{ESTATE}/access/doors", {"code": DOOR, "gateway": GATEWAY, "name": "Block 3 lobby",
                                           "readers": ["lobby-reader"], "groups": {"lobby": None}})
    cards = []
    for i in range(trials):
        person = ok(f"/estates/{ESTATE}/residents", {"name": f"Resident {i}"})
        number = f"5C{i:08X}"
        card = ok(f"/estates/{ESTATE}/access/cards", {"card": number, "resident_id": person["id"],
                                                       "door_groups": ["lobby"]})
        cards.append((number, card["id"]))
    return cards


def in_sync(central: Central) -> bool:
    status, shown = central.api(f"/estates/{ESTATE}/access/sync")
    return status == 200 and any(g["gateway"] == GATEWAY and g["in_sync"] for g in shown["gateways"])


def one_database(work: Path, database_url: str, trials: int, tap_s: float) -> tuple[list[float], list[float]]:
    """Returns each trial's propagation and API call time, in seconds."""
    broker = Mosquitto(work)
    broker.start()
    central = Central(work, database_url, broker.url)
    central.start()
    rig = DoorRig(work, broker.url, unlock_s=0.2)
    watch = None
    try:
        cards = set_up(central, trials)
        rig.start()
        wait_until(lambda: in_sync(central), 60, message="the gateway in sync with central")
        watch = DecisionWatch(broker.port)
        rig.reader.write_frame(cards[0][0])
        first = watch.decisions.get(timeout=10)
        assert first[1], f"a card of the estate was refused before the trials: {first}"
        propagation, calls = [], []
        for number, card_id in cards:
            stop = threading.Event()
            started = time.time()
            tapper = threading.Thread(target=keep_tapping, args=(rig, number, tap_s, stop), daemon=True)
            tapper.start()
            status, answer = central.api(f"/access/cards/{card_id}/report-lost", method="POST", body={})
            calls.append(time.time() - started)
            assert status == 200, answer
            try:
                denied_at, _ = watch.first_denial(number, timeout=10)
            finally:
                stop.set()
                tapper.join()
            propagation.append(denied_at - started)
            time.sleep(0.05)
        return propagation, calls
    finally:
        if watch is not None:
            watch.close()
        rig.close()
        central.stop()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 trials on SQLite, nothing recorded")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--tap-ms", type=float, default=10.0, help="interval between taps of the trial's card")
    args = parser.parse_args(argv)
    trials, databases = (20, ["sqlite"]) if args.quick else (args.trials, args.db.split(","))
    info = c.machine()
    rows, summary = [], []
    for db in databases:
        with c.workdir(f"lost-card-{db}") as work:
            url = f"sqlite:///{work / 'central.sqlite'}" if db == "sqlite" else create_pg_database()
            try:
                propagation, calls = one_database(work, url, trials, args.tap_ms / 1000)
            finally:
                if db != "sqlite":
                    drop_pg_database(url)
        ms = [s * 1000 for s in propagation]
        p50, p99, worst = c.percentile(ms, 50), c.percentile(ms, 99), max(ms)
        call50 = c.percentile([s * 1000 for s in calls], 50)
        print(f"{db}: {trials} trials, API call to first denial p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
              f"max {worst:.0f} ms (the API call itself p50 {call50:.0f} ms)", flush=True)
        rows.append([db, trials, f"{p50:.0f}", f"{p99:.0f}", f"{worst:.0f}", f"{call50:.0f}"])
        summary.append(f"{db} p99 {p99:.0f} ms")
    if args.quick:
        return 0
    c.write_section("lost_card", f"""
## Lost card: API call to the first denial at the gateway

`.venv/bin/python -m bench.lost_card` — {c.utc_date()}, {c.machine_line(info)}

A real central, Mosquitto and gateway process (pty card reader, lock on a simulated Modbus TCP module). Each
trial reports one card lost through the API while that card is presented every {args.tap_ms:.0f} ms; the figure
runs from just before the API call to the `received_at` of the gateway's first denial of the card (reason
`lost`), so it errs long by up to one tap interval. Target p99 ≤ 2 s. **{"; ".join(summary)}.**

{c.table(["central database", "trials", "p50 ms", "p99 ms", "max ms", "API call p50 ms"], rows)}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
