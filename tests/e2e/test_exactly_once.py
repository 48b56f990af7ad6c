"""Exactly once through failures: a gateway killed mid-burst, a broker outage, a central restart."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from simulators.card_reader import PtyCardReader
from tests.support.gateway_config import write_gateway_config
from tests.support.services import Central, Process, wait_until


def card(n: int) -> str:
    return f"{n:010X}"


def outbox_last_seq(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0] - 1


def start_gateway(tmp_path: Path, broker_url: str, reader: PtyCardReader) -> Process:
    config = write_gateway_config(tmp_path / "gw.toml", broker_url=broker_url,
                                  outbox=tmp_path / "outbox.sqlite", reader_port=reader.port)
    gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
    gateway.start()
    return gateway


def wait_reader_online(central: Central, started_after: datetime | None = None) -> None:
    """Wait for a heartbeat from a gateway process started after `started_after` with its reader open."""
    def online():
        _, body = central.api("/gateways")
        for g in body["items"]:
            state = g["state"] or {}
            reader = (state.get("devices") or {}).get("main-gate-reader", {})
            started = state.get("started_at")
            fresh = started_after is None or (started and datetime.fromisoformat(started) > started_after)
            if g["status"] == "online" and reader.get("state") == "online" and fresh:
                return True
        return False
    wait_until(online, 30, message="gateway online with its reader")


def write_burst(reader: PtyCardReader, cards: range, per_second: float) -> threading.Thread:
    def run():
        interval = 1 / per_second
        start = time.monotonic()
        for i, n in enumerate(cards):
            reader.write_frame(card(n))
            delay = start + (i + 1) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def assert_exactly_once(central: Central, last_seq: int) -> list[dict]:
    events = wait_until(lambda: _all_if(central, last_seq), 90, interval=0.5,
                        message=f"central to hold {last_seq} events")
    seqs = Counter(e["seq"] for e in events)
    assert len(events) == last_seq, f"{len(events)} rows for {last_seq} sequence numbers"
    assert set(seqs) == set(range(1, last_seq + 1))
    assert max(seqs.values()) == 1
    cards = Counter(e["data"]["card"] for e in events)
    assert max(cards.values()) == 1, "a card read was stored twice"
    return events


def _all_if(central: Central, count: int):
    events = central.all_events(gateway="gate-1")
    return events if len(events) >= count else None


def test_gateway_killed_mid_burst_loses_and_doubles_nothing(tmp_path, mosquitto, central):
    with PtyCardReader(fmt="em4100") as reader:
        gateway = start_gateway(tmp_path, mosquitto.url, reader)
        wait_reader_online(central)
        write_burst(reader, range(0, 2500), per_second=2500).join()
        # Killed while it still works through the burst, once it has most of it: a gateway that other tests'
        # processes leave less CPU may be further behind when the last frame has been written.
        wait_until(lambda: outbox_last_seq(tmp_path / "outbox.sqlite") >= 2000, 30,
                   message="the gateway to capture most of the burst")
        gateway.kill9()
        captured_before_kill = outbox_last_seq(tmp_path / "outbox.sqlite")
        restarted = datetime.now(timezone.utc)
        gateway.start()
        wait_reader_online(central, started_after=restarted)
        write_burst(reader, range(2500, 5000), per_second=2500).join()
        wait_until(lambda: outbox_last_seq(tmp_path / "outbox.sqlite") >= captured_before_kill + 2500, 60,
                   message="the restarted gateway to capture the second half")
        events = assert_exactly_once(central, captured_before_kill + 2500)
        gateway.stop()
    cards = {e["data"]["card"] for e in events}
    assert {card(n) for n in range(2500, 5000)} <= cards
    assert captured_before_kill >= 2000, "the gateway captured too little of the burst before the kill"


def test_broker_outage_of_20s_loses_and_doubles_nothing(tmp_path, mosquitto, central):
    with PtyCardReader(fmt="em4100") as reader:
        gateway = start_gateway(tmp_path, mosquitto.url, reader)
        wait_reader_online(central)
        burst = write_burst(reader, range(0, 3000), per_second=250)
        time.sleep(2)
        mosquitto.stop()
        time.sleep(20)
        mosquitto.start()
        burst.join()
        events = assert_exactly_once(central, 3000)
        gateway.stop()
    assert {e["data"]["card"] for e in events} == {card(n) for n in range(3000)}


def test_central_restart_loses_and_doubles_nothing(tmp_path, mosquitto, central):
    with PtyCardReader(fmt="em4100") as reader:
        gateway = start_gateway(tmp_path, mosquitto.url, reader)
        wait_reader_online(central)
        burst = write_burst(reader, range(0, 3000), per_second=500)
        time.sleep(2)
        central.kill9()
        time.sleep(3)
        central.start()
        burst.join()
        events = assert_exactly_once(central, 3000)
        gateway.stop()
    assert {e["data"]["card"] for e in events} == {card(n) for n in range(3000)}
