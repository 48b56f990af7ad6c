"""The door state machine: one transition table, driven by (input, now); the access runtime owns the timers.

Theory of operation. A door has a lock, released for a while after each grant (the unlock window, the lock
pulse), and a door-position contact. The machine knows where the contact stands (`state`) and whether the
lock is released (`released`). Inputs:

* GRANT: a tap was granted or a guard opened the door remotely; the lock is pulsed and released.
  The runtime (re)starts the relock timer (START_RELOCK) for the pulse's length.
* RELOCK: the relock timer fired; the pulse is over.
* OPENED / CLOSED: the contact reported the door open or closed.
* HELD_TIMEOUT: the held-open timer fired (START_HELD started it `held_open_s` after the door opened).
* CONTACT_LOST: the I/O module that reads the contact went offline; where the door stands is unknown.

The rules: the door opening while the lock is released is a normal passage (OPEN); opening while locked is
a forced door (FORCED, `door.forced`). A door open longer than `held_open_s` raises `door.held_open` once
(HELD); a new grant while it is open (the next person through) restarts that clock. A door found open when
its contact first becomes known (at start, after the module was offline) was not seen opening, so it is OPEN,
not FORCED, and the held-open clock runs. Closing ends every open state. `door.state` {door, open, locked}
is emitted whenever `open` (None while unknown) or `locked` changes, whatever the input was; the table holds
the rest. Every (state, input) pair has a row, and only (CLOSED, OPENED) depends on `released`.
Timers are the runtime's: the table says when to start or stop them, and a timer that fires late (its door
already closed) meets a row that ignores it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any


class DoorState(enum.StrEnum):
    UNKNOWN = "unknown"
    CLOSED = "closed"
    OPEN = "open"
    FORCED = "forced"
    HELD = "held_open"


class DoorInput(enum.StrEnum):
    GRANT = "grant"
    RELOCK = "relock"
    OPENED = "opened"
    CLOSED = "closed"
    HELD_TIMEOUT = "held_timeout"
    CONTACT_LOST = "contact_lost"


class Action(enum.StrEnum):
    FORCED_ALARM = "forced_alarm"
    HELD_ALARM = "held_alarm"
    START_HELD = "start_held"
    STOP_HELD = "stop_held"
    START_RELOCK = "start_relock"


S, I, A = DoorState, DoorInput, Action
ANY = None
_ROWS: tuple[tuple[DoorState, DoorInput, bool | None, DoorState, tuple[Action, ...]], ...] = (
    # state      input            released  next       actions
    (S.UNKNOWN, I.GRANT,          ANY,      S.UNKNOWN, (A.START_RELOCK,)),
    (S.UNKNOWN, I.RELOCK,         ANY,      S.UNKNOWN, ()),
    (S.UNKNOWN, I.OPENED,         ANY,      S.OPEN,    (A.START_HELD,)),
    (S.UNKNOWN, I.CLOSED,         ANY,      S.CLOSED,  ()),
    (S.UNKNOWN, I.HELD_TIMEOUT,   ANY,      S.UNKNOWN, ()),
    (S.UNKNOWN, I.CONTACT_LOST,   ANY,      S.UNKNOWN, ()),
    (S.CLOSED,  I.GRANT,          ANY,      S.CLOSED,  (A.START_RELOCK,)),
    (S.CLOSED,  I.RELOCK,         ANY,      S.CLOSED,  ()),
    (S.CLOSED,  I.OPENED,         True,     S.OPEN,    (A.START_HELD,)),
    (S.CLOSED,  I.OPENED,         False,    S.FORCED,  (A.FORCED_ALARM, A.START_HELD)),
    (S.CLOSED,  I.CLOSED,         ANY,      S.CLOSED,  ()),
    (S.CLOSED,  I.HELD_TIMEOUT,   ANY,      S.CLOSED,  ()),
    (S.CLOSED,  I.CONTACT_LOST,   ANY,      S.UNKNOWN, ()),
    (S.OPEN,    I.GRANT,          ANY,      S.OPEN,    (A.START_RELOCK, A.START_HELD)),
    (S.OPEN,    I.RELOCK,         ANY,      S.OPEN,    ()),
    (S.OPEN,    I.OPENED,         ANY,      S.OPEN,    ()),
    (S.OPEN,    I.CLOSED,         ANY,      S.CLOSED,  (A.STOP_HELD,)),
    (S.OPEN,    I.HELD_TIMEOUT,   ANY,      S.HELD,    (A.HELD_ALARM,)),
    (S.OPEN,    I.CONTACT_LOST,   ANY,      S.UNKNOWN, (A.STOP_HELD,)),
    (S.FORCED,  I.GRANT,          ANY,      S.FORCED,  (A.START_RELOCK,)),
    (S.FORCED,  I.RELOCK,         ANY,      S.FORCED,  ()),
    (S.FORCED,  I.OPENED,         ANY,      S.FORCED,  ()),
    (S.FORCED,  I.CLOSED,         ANY,      S.CLOSED,  (A.STOP_HELD,)),
    (S.FORCED,  I.HELD_TIMEOUT,   ANY,      S.HELD,    (A.HELD_ALARM,)),
    (S.FORCED,  I.CONTACT_LOST,   ANY,      S.UNKNOWN, (A.STOP_HELD,)),
    (S.HELD,    I.GRANT,          ANY,      S.HELD,    (A.START_RELOCK,)),
    (S.HELD,    I.RELOCK,         ANY,      S.HELD,    ()),
    (S.HELD,    I.OPENED,         ANY,      S.HELD,    ()),
    (S.HELD,    I.CLOSED,         ANY,      S.CLOSED,  ()),
    (S.HELD,    I.HELD_TIMEOUT,   ANY,      S.HELD,    ()),
    (S.HELD,    I.CONTACT_LOST,   ANY,      S.UNKNOWN, ()),
)


def _table() -> dict[tuple[DoorState, DoorInput, bool], tuple[DoorState, tuple[Action, ...]]]:
    table: dict[tuple[DoorState, DoorInput, bool], tuple[DoorState, tuple[Action, ...]]] = {}
    for state, given, released, after, actions in _ROWS:
        for flag in (True, False) if released is ANY else (released,):
            if (state, given, flag) in table:
                raise AssertionError(f"two rows for {state} + {given} (released={flag})")
            table[(state, given, flag)] = (after, actions)
    missing = [(s, i) for s in DoorState for i in DoorInput for f in (True, False) if (s, i, f) not in table]
    if missing:
        raise AssertionError(f"no row for {missing}")
    return table


TRANSITIONS = _table()
"""(state, input, released) -> (next state, actions): every combination has exactly one entry."""
OPEN_STATES = frozenset({DoorState.OPEN, DoorState.FORCED, DoorState.HELD})


@dataclass(frozen=True, slots=True)
class DoorStatus:
    """Where one door stands: contact state, lock released or not, and since when it is open (loop time)."""

    door: str
    state: DoorState = DoorState.UNKNOWN
    released: bool = False
    opened_at: float | None = None

    @property
    def open(self) -> bool | None:
        """True or False once the contact is known, None before."""
        return None if self.state is DoorState.UNKNOWN else self.state in OPEN_STATES

    def state_event(self) -> tuple[str, dict[str, Any]]:
        """The `door.state` event for this status."""
        return "door.state", {"door": self.door, "open": self.open, "locked": not self.released}


@dataclass(frozen=True, slots=True)
class Step:
    """What one input did: the new status, the events to write, the timer actions for the runtime."""

    status: DoorStatus
    events: tuple[tuple[str, dict[str, Any]], ...]
    timers: tuple[Action, ...]


_TIMERS = frozenset({Action.START_HELD, Action.STOP_HELD, Action.START_RELOCK})


def step(status: DoorStatus, given: DoorInput, now: float) -> Step:
    """Feed one input at loop time `now`; pure: nothing is emitted or scheduled here."""
    after, actions = TRANSITIONS[(status.state, given, status.released)]
    released = True if given is DoorInput.GRANT else False if given is DoorInput.RELOCK else status.released
    opened_at = (status.opened_at if status.state in OPEN_STATES else now) if after in OPEN_STATES else None
    new = replace(status, state=after, released=released, opened_at=opened_at)
    events: list[tuple[str, dict[str, Any]]] = []
    if (new.open, new.released) != (status.open, status.released):
        events.append(new.state_event())
    if Action.FORCED_ALARM in actions:
        events.append(("door.forced", {"door": status.door}))
    if Action.HELD_ALARM in actions:
        open_s = 0.0 if opened_at is None else now - opened_at
        events.append(("door.held_open", {"door": status.door, "open_s": round(open_s, 1)}))
    return Step(new, tuple(events), tuple(action for action in actions if action in _TIMERS))
