"""Sans-I/O building of the libosdp command dicts a control panel sends: reader feedback and outputs.

OSDP times LEDs, tones and outputs in units of 100 ms. A grant shows green and gives one short beep; a deny
shows red and gives three. Both are temporary LED states, so the reader falls back to its idle colour by
itself when the timer runs out. A tone's repeat count is never 0: OSDP reads 0 as "sound until told to stop".
An output pulse is a temporary "on" for a time, after which the output returns to its permanent state.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from osdp import Command, CommandLEDColor

from drivers.base import LocalProtocolError

TICK_MS = 100
"""OSDP's unit of time for LED, tone and output timers."""
LED_TEMPORARY_SET = 2
"""LED temporary control code: set the temporary state and start its timer."""
TONE_DEFAULT = 2
"""Buzzer tone code: the reader's default tone."""
OUTPUT_PERMANENT_OFF = 1
"""Output control code: off now, cancelling any timed operation."""
OUTPUT_TEMPORARY_ON = 5
"""Output control code: on for the timer, then back to the permanent state."""
MAX_TIMER = 0xFFFF
"""Output and LED timers are 16-bit counts of TICK_MS."""


@dataclass(frozen=True, slots=True)
class Feedback:
    """What a reader shows for one decision: an LED colour for a while, and a number of beeps."""

    color: int
    show_ms: int
    beeps: int
    beep_ms: int
    gap_ms: int


FEEDBACK: Mapping[bool, Feedback] = MappingProxyType({
    True: Feedback(CommandLEDColor.Green, show_ms=3000, beeps=1, beep_ms=200, gap_ms=100),
    False: Feedback(CommandLEDColor.Red, show_ms=3000, beeps=3, beep_ms=100, gap_ms=100),
})
"""Granted (True) and denied (False) feedback."""


def _ticks(ms: int) -> int:
    return -(-ms // TICK_MS)


def led_command(feedback: Feedback, *, reader: int = 0, led_number: int = 0) -> dict[str, Any]:
    """The temporary LED state of a feedback pattern, as a libosdp command dict."""
    return {"command": Command.LED, "reader": reader, "led_number": led_number, "temporary": True,
            "control_code": LED_TEMPORARY_SET, "on_color": feedback.color, "off_color": feedback.color,
            "on_count": _ticks(feedback.show_ms), "off_count": 0, "timer_count": _ticks(feedback.show_ms)}


def buzzer_command(feedback: Feedback, *, reader: int = 0) -> dict[str, Any]:
    """The beeps of a feedback pattern, as a libosdp command dict."""
    return {"command": Command.Buzzer, "reader": reader, "control_code": TONE_DEFAULT,
            "on_count": _ticks(feedback.beep_ms), "off_count": _ticks(feedback.gap_ms), "rep_count": feedback.beeps}


def output_command(output_no: int, on_ms: int) -> dict[str, Any]:
    """Output `output_no` on for `on_ms` (rounded up to 100 ms), or off now when on_ms is 0."""
    if not 0 <= output_no <= 0xFF:
        raise LocalProtocolError(f"an OSDP output number is 0..255, not {output_no}")
    if on_ms == 0:
        return {"command": Command.Output, "output_no": output_no, "control_code": OUTPUT_PERMANENT_OFF,
                "timer_count": 0}
    if not 0 < on_ms <= MAX_TIMER * TICK_MS:
        raise LocalProtocolError(f"an output pulse is 1..{MAX_TIMER * TICK_MS} ms (or 0 for off), not {on_ms}")
    return {"command": Command.Output, "output_no": output_no, "control_code": OUTPUT_TEMPORARY_ON,
            "timer_count": _ticks(on_ms)}
