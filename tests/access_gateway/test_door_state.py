"""The door state machine as a table of (inputs in, events and timers out): pure, no loop, time given."""
from __future__ import annotations

import pytest

from gateway.door_state import TRANSITIONS, Action, DoorInput, DoorState, DoorStatus, step

G, R, O, C, H, L = (DoorInput.GRANT, DoorInput.RELOCK, DoorInput.OPENED, DoorInput.CLOSED, DoorInput.HELD_TIMEOUT,
                    DoorInput.CONTACT_LOST)
SECURE = DoorStatus("d1", DoorState.CLOSED)


def run(inputs: list[tuple[DoorInput, float]], start: DoorStatus = SECURE) -> tuple[DoorStatus, list, list]:
    status, events, timers = start, [], []
    for given, now in inputs:
        result = step(status, given, now)
        status = result.status
        events += [(kind, data) for kind, data in result.events]
        timers += list(result.timers)
    return status, events, timers


def state(open_: bool | None, locked: bool) -> tuple[str, dict]:
    return "door.state", {"door": "d1", "open": open_, "locked": locked}


def test_every_state_and_input_has_exactly_one_row():
    assert len(TRANSITIONS) == len(DoorState) * len(DoorInput) * 2


@pytest.mark.parametrize(("inputs", "final", "events"), [
    pytest.param([(G, 0), (O, 1), (C, 3), (R, 5)], DoorState.CLOSED,
                 [state(False, False), state(True, False), state(False, False), state(False, True)],
                 id="a normal passage"),
    pytest.param([(O, 0)], DoorState.FORCED,
                 [state(True, True), ("door.forced", {"door": "d1"})], id="opened while locked: forced"),
    pytest.param([(G, 0), (R, 5), (O, 6)], DoorState.FORCED,
                 [state(False, False), state(False, True), state(True, True), ("door.forced", {"door": "d1"})],
                 id="opened after the unlock window: forced"),
    pytest.param([(G, 0), (O, 1), (R, 5), (H, 31)], DoorState.HELD,
                 [state(False, False), state(True, False), state(True, True),
                  ("door.held_open", {"door": "d1", "open_s": 30.0})], id="propped open after a grant"),
    pytest.param([(O, 0), (H, 30), (H, 60), (C, 70)], DoorState.CLOSED,
                 [state(True, True), ("door.forced", {"door": "d1"}),
                  ("door.held_open", {"door": "d1", "open_s": 30.0}), state(False, True)],
                 id="forced, then held: each alarm once"),
    pytest.param([(G, 0), (G, 2), (R, 5)], DoorState.CLOSED, [state(False, False), state(False, True)],
                 id="a second grant inside the window reports nothing new"),
    pytest.param([(G, 0), (O, 1), (C, 2), (H, 31)], DoorState.CLOSED,
                 [state(False, False), state(True, False), state(False, False)], id="a late held timer is ignored"),
    pytest.param([(L, 0), (O, 5)], DoorState.OPEN, [state(None, True), state(True, True)],
                 id="found open when the contact comes back: not forced"),
    pytest.param([(O, 0), (L, 1), (C, 2)], DoorState.CLOSED,
                 [state(True, True), ("door.forced", {"door": "d1"}), state(None, True), state(False, True)],
                 id="contact lost while open"),
])
def test_sequences(inputs, final, events):
    status, got, _ = run(inputs)
    assert status.state is final
    assert got == events


def test_timers_the_runtime_is_asked_to_run():
    assert step(SECURE, G, 0).timers == (Action.START_RELOCK,)
    opened = step(step(SECURE, G, 0).status, O, 1)
    assert opened.timers == (Action.START_HELD,)
    assert step(opened.status, G, 2).timers == (Action.START_RELOCK, Action.START_HELD), \
        "the next person through restarts the held-open clock"
    assert step(opened.status, C, 3).timers == (Action.STOP_HELD,)
    forced = step(SECURE, O, 0)
    assert forced.timers == (Action.START_HELD,)


def test_open_since_is_kept_while_open_and_cleared_when_closed():
    status, _, _ = run([(O, 10.0), (H, 40.0)])
    assert status.opened_at == 10.0
    status, _, _ = run([(C, 41.0)], start=status)
    assert status.opened_at is None and status.open is False


def test_an_unknown_door_starts_unknown_and_locked():
    fresh = DoorStatus("d1")
    assert (fresh.state, fresh.open, fresh.released) == (DoorState.UNKNOWN, None, False)
    assert step(fresh, C, 0).events == (state(False, True),)
