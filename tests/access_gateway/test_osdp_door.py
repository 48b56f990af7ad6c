"""A door whose reader and lock are both on OSDP, end to end: a gateway process on a pty, a simulated libosdp
reader on the other side with the secure channel, a card presented at it. A grant drives the reader's output
(the lock relay) for the door's unlock time and shows green with one beep; a denial red with three, no output."""
from __future__ import annotations

from datetime import UTC, datetime

from osdp import Command, CommandLEDColor

from simulators.osdp_reader import PtyOsdpBus
from tests.access_edge.helpers import wire_credential
from tests.access_gateway.support import DOOR, decisions, estate_records, seed_cache
from tests.osdp.conftest import KEY
from tests.support.services import Process, wait_until

STAFF = "0001191993"
"""Facility 18, number 12345 as a Wiegand 26 card reads through OSDP."""


def config(tmp_path, broker_url: str, port: str) -> str:
    (tmp_path / "scbk").write_text(KEY.hex() + "\n")
    return f"""
[estate]
id = "demo"
[gateway]
id = "gate-1"
[uplink]
broker = "{broker_url}"
heartbeat_s = 1.0
reconnect_min_s = 0.2
reconnect_max_s = 1.0
[outbox]
path = "{tmp_path / 'outbox.sqlite'}"
[access]
cache_path = "{tmp_path / 'access.sqlite'}"

[[devices]]
id = "osdp"
driver = "osdp_bus"
port = "{port}"
readers = [{{id = "gate-in", address = 101, scbk_file = "{tmp_path / 'scbk'}"}}]

[[doors]]
id = "{DOOR}"
readers = ["osdp/gate-in"]
lock = {{osdp = "osdp", output = 0}}
unlock_s = 2.5
"""


def test_an_osdp_door_unlocks_through_the_readers_output_and_shows_the_decision(tmp_path, mosquitto, stand_in):
    records = estate_records()
    records["credentials"].append(wire_credential(STAFF, "s-1", groups=["lobby"]))
    seed_cache(tmp_path / "access.sqlite", records=records)
    with PtyOsdpBus({101: KEY}, outputs=2) as sim:
        (tmp_path / "gw.toml").write_text(config(tmp_path, mosquitto.url, sim.port))
        gateway = Process(["gateway", "--config", str(tmp_path / "gw.toml")], tmp_path / "gateway.log")
        started = datetime.now(UTC)
        gateway.start()
        try:
            wait_until(lambda: stand_in.devices_online("osdp", started_after=started), 40,
                       message=f"the OSDP bus online:\n{gateway.output()[-2000:]}")
            reader = sim.reader(101)
            assert reader.secure

            reader.present_wiegand(18, 12345)
            wait_until(lambda: reader.outputs(), 10, message="the lock output driven")
            assert reader.outputs() == [{"command": Command.Output, "output_no": 0, "control_code": 5,
                                         "timer_count": 25}], "output 0 on for 2.5 s (units of 100 ms)"
            wait_until(lambda: reader.buzzes(), 10, message="the grant's beep")
            assert reader.leds()[-1]["on_color"] == CommandLEDColor.Green
            assert reader.buzzes()[-1]["rep_count"] == 1

            reader.present_wiegand(99, 1)
            wait_until(lambda: len(reader.buzzes()) == 2, 10, message="the denial's beeps")
            assert reader.leds()[-1]["on_color"] == CommandLEDColor.Red
            assert reader.buzzes()[-1]["rep_count"] == 3
            stored = stand_in.wait_stored("access.decision", count=2)
            assert decisions(stored) == [(STAFF, True, "granted"), ("0006488065", False, "unknown_card")]
            assert len(reader.outputs()) == 1, "a denial drives no output"
        finally:
            gateway.stop()
