"""The gateway process as an operator sees it: a dead device does not stall others, systemd is fed, a full outbox alarms."""
from __future__ import annotations

import os
import socket
import sqlite3
import time

from simulators.card_reader import PtyCardReader
from tests.support.gateway_config import gateway_toml
from tests.support.services import Process, free_port, wait_until


def two_reader_config(tmp_path, broker_url, good_port, bad_port, **kwargs) -> str:
    text = gateway_toml(broker_url=broker_url, outbox=tmp_path / "outbox.sqlite", reader_port=good_port, **kwargs)
    return text + f"""
[[devices]]
id = "side-gate-reader"
driver = "ascii_reader"
port = "{bad_port}"
format = "em4100"
"""


def devices(central):
    _, body = central.api("/gateways")
    for gw in body["items"]:
        if gw["state"] and gw["state"].get("devices"):
            return gw["state"]["devices"]
    return None


def test_a_dead_reader_is_retried_with_backoff_and_never_stalls_its_neighbour(tmp_path, mosquitto, central):
    missing = tmp_path / "side-reader"   # nothing there yet: the USB adapter is unplugged
    with PtyCardReader(fmt="em4100") as good, PtyCardReader(fmt="em4100") as late:
        config = tmp_path / "gw.toml"
        config.write_text(two_reader_config(tmp_path, mosquitto.url, good.port, missing))
        gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
        gateway.start()
        try:
            states = wait_until(lambda: (d := devices(central)) and d["side-gate-reader"]["restarts"] >= 2 and d,
                                20, message="the missing reader to be retried")
            assert states["side-gate-reader"]["state"] in ("offline", "starting")
            assert str(missing) in states["side-gate-reader"]["last_error"]
            for n in range(5):
                good.write_frame(f"{n:010X}")
            events = wait_until(lambda: len(central.all_events()) >= 5 and central.all_events(), 10,
                                message="reads from the working reader")
            assert {e["device"] for e in events} == {"main-gate-reader"}

            os.symlink(late.port, missing)   # the adapter is plugged in
            wait_until(lambda: (d := devices(central)) and d["side-gate-reader"]["state"] == "online", 45,
                       message="the side reader to come online on a later retry")
            late.write_frame("00000000AA")
            wait_until(lambda: any(e["device"] == "side-gate-reader" for e in central.all_events()), 10,
                       message="a read from the side reader")
        finally:
            gateway.stop()


def test_gateway_tells_systemd_it_is_ready_and_feeds_the_watchdog(tmp_path, mosquitto):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)
    config = tmp_path / "gw.toml"
    config.write_text(gateway_toml(broker_url=mosquitto.url, outbox=tmp_path / "outbox.sqlite", reader_port=None))
    gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
    os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"] = str(sock_path), "400000"
    try:
        gateway.start()
        received = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and received.count(b"WATCHDOG=1") < 3:
            received.append(sock.recv(256))
    finally:
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
        gateway.stop()
        sock.close()
    assert b"READY=1" in received
    assert received.count(b"WATCHDOG=1") >= 3


def test_outbox_near_full_raises_an_alarm_that_reaches_central(tmp_path, mosquitto, central):
    dead_broker = f"mqtt://127.0.0.1:{free_port()}"   # the uplink is down while the outbox fills
    outbox = tmp_path / "outbox.sqlite"
    with PtyCardReader(fmt="em4100") as reader:
        config = tmp_path / "gw.toml"
        config.write_text(gateway_toml(broker_url=dead_broker, outbox=outbox, reader_port=reader.port,
                                       max_events=1000))
        gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
        gateway.start()
        try:
            wait_until(outbox.exists, 10, message="the outbox file")
            time.sleep(1)
            for n in range(850):
                reader.write_frame(f"{n:010X}")
                if n % 50 == 0:
                    time.sleep(0.02)
            wait_until(lambda: _kinds(outbox).get("card.read") == 850, 20, message="every read in the outbox")
            assert _kinds(outbox).get("outbox.near_full") == 1
            gateway.stop()
            config.write_text(config.read_text().replace(dead_broker, mosquitto.url))
            gateway.start()
            alarms = wait_until(lambda: central.all_events(kind="outbox.near_full"), 30,
                                message="the alarm at central")
        finally:
            gateway.stop()
    assert len(alarms) == 1
    assert alarms[0]["device"] == "gateway"
    assert alarms[0]["data"]["max_events"] == 1000 and alarms[0]["data"]["depth"] >= 800
    cards = central.all_events(kind="card.read")
    assert len(cards) == 850, "every access event survives the warning"


def _kinds(outbox) -> dict:
    with sqlite3.connect(outbox) as db:
        return dict(db.execute("SELECT kind, count(*) FROM outbox GROUP BY kind").fetchall())
