"""The door state machine inside a gateway process, driven by a simulated contact: forced, held open, normal
passages, and an I/O module that goes silent."""
from __future__ import annotations

import time

import pytest

from tests.access_gateway.support import DOOR, GRANTED, LOCK_COIL, DoorRig, seed_cache
from tests.support.services import wait_until


@pytest.fixture
def rig(tmp_path, mosquitto, stand_in):
    """As conftest's, with a 3 s unlock: a loaded machine's test must open the door well inside the window."""
    seed_cache(tmp_path / "access.sqlite")
    door = DoorRig(tmp_path, mosquitto.url, central=stand_in, unlock_s=3.0, held_open_s=2.0)
    try:
        door.start()
        yield door
    finally:
        door.close()


def test_forced_and_held_open_doors_raise_alarms_and_passages_do_not(rig, stand_in):
    rig.open_door()  # nobody tapped: forced
    forced = stand_in.wait_stored("door.forced")
    assert forced[0]["data"] == {"door": DOOR} and forced[0]["device"] == "door-io"
    held = stand_in.wait_stored("door.held_open", timeout=20)  # held_open_s = 2
    assert held[0]["data"]["door"] == DOOR and 1.5 <= held[0]["data"]["open_s"] <= 10
    rig.close_door()
    wait_until(lambda: stand_in.stored("door.state")[-1]["data"] == {"door": DOOR, "open": False, "locked": True},
               10, message="the door reported closed")

    rig.tap(GRANTED)  # a normal passage: open within unlock_s, closed within held_open_s
    wait_until(lambda: rig.sim.pulses(LOCK_COIL), 10, message="the lock released")
    rig.open_door()
    time.sleep(0.5)
    rig.close_door()
    wait_until(lambda: stand_in.stored("door.state")[-1]["data"]["open"] is False
               and len(stand_in.stored("door.state")) >= 7, 10, message="the passage reported")

    rig.tap(GRANTED)  # a granted door propped open: held open, not forced
    wait_until(lambda: len(rig.sim.pulses(LOCK_COIL)) == 2, 10, message="the second release")
    rig.open_door()
    stand_in.wait_stored("door.held_open", 2, timeout=20)
    rig.close_door()
    time.sleep(0.5)
    assert len(stand_in.stored("door.forced")) == 1
    opened = [e["data"] for e in stand_in.stored("door.state") if e["data"]["open"]]
    assert opened[0] == {"door": DOOR, "open": True, "locked": True}, "the forced opening"
    assert {"door": DOOR, "open": True, "locked": False} in opened[1:], "a passage while released"


def test_a_silent_io_module_is_an_alarm_and_decisions_go_on(rig, stand_in):
    rig.sim.silent = True
    offline = stand_in.wait_stored("device.offline", timeout=20)
    assert offline[0]["data"] == {"device": "door-io"}
    wait_until(lambda: stand_in.stored("door.state")[-1]["data"]["open"] is None, 10,
               message="the door's contact reported unknown")
    rig.tap(GRANTED)  # decided and logged; the lock cannot be released while the module is silent
    decision = stand_in.wait_stored("access.decision")[0]
    assert decision["data"]["granted"] is True
    rig.sim.silent = False
    stand_in.wait_stored("device.online", timeout=20)
    wait_until(lambda: stand_in.stored("door.state")[-1]["data"]["open"] is False, 10,
               message="the door known closed again")
    assert len(stand_in.stored("device.offline")) == 1, "one alarm per outage, however many retries"
    assert rig.sim.coils[LOCK_COIL] is False
