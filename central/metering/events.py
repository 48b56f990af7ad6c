"""Readings from stored `meter.reading` events, for ingest to call: idempotent, and counting what it cannot use.

The event's `data`: `value` (the register as a string, e.g. "01234.56"), `unit` ("m3", "m³", "L", "kWh",
"Wh", "MWh"), optionally `register` (which of the meter's registers was read, e.g. "forward_active_energy";
gateways before multi-register reads sent none), `meter` (the meter's id on a bus the device reads many meters
through), `meter_time` (the meter's clock, ISO 8601 with offset) and `quality` ("ok", "estimated", "invalid",
or a list). The meter is the one bound to (gateway, data.meter) or else (gateway, event device) at the reading's
time; the time is meter_time, else the event's device_time, else the gateway's received_at. Only readings of the
register that bills the meter are stored (`bills`): the one its binding names, else a well-known counter.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.metering.common import ESTIMATED, INVALID, OUT_OF_RANGE, too_many_digits, utc
from central.metering.history import meter_for_device
from central.metering.models import MeterReading
from central.metering.points import point_row
from central.metering.readings import add_reading

KIND = "meter.reading"
log = logging.getLogger("central.metering")
Outcome = Literal["stored", "duplicate", "conflict", "unbound", "other_register", "invalid", "ignored"]
"""stored; duplicate: this event was stored before; conflict: the meter already has a reading at that time;
unbound: no meter is bound to the device then; other_register: a reading of a register that does not bill the
meter (a voltage, a power, another energy register), fine but not stored; invalid: the data cannot be read;
ignored: another kind."""

WELL_KNOWN_COUNTERS = frozenset({
    "forward_active_energy",  # DL/T 645 DI 00010000, forward active total (drivers/dlt645/codec.py REGISTERS)
    "cumulative_flow",        # CJ/T 188 901FH current cumulative flow (drivers/meter_bus/cjt188_reader.py REGISTER)
    "total_active_energy",    # the built-in Modbus model eastron-sdm120's total energy (edge_config/meter_models.py)
})
"""The registers that bill a meter whose binding names no register: each the cumulative counter of a protocol or a
built-in Modbus model, under the name the gateway's own code gives it, and at most one per meter, so two registers
of one meter never race to be its reading. Left out on purpose: DL/T 645 combined_active_energy (reverse energy
added or subtracted as the meter's combination word says, signed; a meter may report it beside forward), the
SDM120's import/export energies (parts of its total), and every name from a config's own Modbus map ("volume",
"energy_total", ...): what those count is up to whoever wrote the map, so such a meter's binding names its register.
A reading without a register (gateways before multi-register reads) bills a binding that names none, too. Keep in
step with docs/meters.md, "Which register bills".
"""

UNITS: dict[str, dict[str, Decimal]] = {
    "water": {"m3": Decimal(1), "m³": Decimal(1), "l": Decimal("0.001")},
    "gas": {"m3": Decimal(1), "m³": Decimal(1)},
    "electricity": {"kwh": Decimal(1), "wh": Decimal("0.001"), "mwh": Decimal(1000)},
}
"""Units a meter kind's readings may arrive in, and the factor to the kind's stored unit (m³ or kWh)."""
_GOOD = frozenset({"", "ok", "good", "valid", "normal"})
_BAD = frozenset({"invalid", "bad", "error", "fault", "failed"})


class _Unusable(ValueError):
    pass


def bills(bound: str | None, register: str | None) -> bool:
    """Whether a reading of `register` (None: the event names none) is the counter of a meter whose binding names
    `bound`: exactly that register when it names one (an unnamed reading cannot be shown to be it), else a
    well-known counter or an unnamed reading."""
    if bound is not None:
        return register == bound
    return register is None or register in WELL_KNOWN_COUNTERS


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Unusable(f"time {value!r}") from None
        if value.tzinfo is None:
            raise _Unusable("a meter_time without a UTC offset")
    if not isinstance(value, datetime):
        raise _Unusable(f"time {value!r}")
    return utc(value)


def _when(event: Mapping[str, Any], data: Mapping[str, Any]) -> datetime:
    for value in (data.get("meter_time"), event.get("device_time"), event.get("received_at")):
        if value is not None:
            return _time(value)
    raise _Unusable("no time")


def _value(data: Mapping[str, Any], kind: str) -> Decimal:
    raw, unit = data.get("value"), data.get("unit")
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise _Unusable(f"value {raw!r} is not a string")  # a float may already have lost digits
    factor = UNITS[kind].get(unit.strip().lower()) if isinstance(unit, str) else None
    if factor is None:
        raise _Unusable(f"unit {unit!r} is not one for {kind}")
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else raw) * factor
    except InvalidOperation:
        raise _Unusable(f"value {raw!r}") from None
    exact = value.quantize(Decimal("0.001")) if value.is_finite() and not too_many_digits(value) else None
    if exact is None or exact != value or value < 0:
        raise _Unusable(f"value {raw!r} {unit} is not a register value to 0.001")
    return exact


def _quality(data: Mapping[str, Any]) -> tuple[list[str], str]:
    raw = data.get("quality")
    words = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else [] if raw is None else [raw]
    flags: list[str] = []
    odd = []
    for word in words:
        text = str(word).strip().lower()
        if text in _GOOD:
            continue
        flag = ESTIMATED if text == "estimated" else INVALID
        if text not in _BAD and text != "estimated":
            odd.append(str(word)[:40])
        if flag not in flags:
            flags.append(flag)
    return flags, f"meter quality {', '.join(odd)}" if odd else ""


async def readings_from_event(conn: AsyncConnection, event: Any) -> Outcome:
    """Store the reading a stored `meter.reading` event carries, if its device is bound to a meter then."""
    event = getattr(event, "_mapping", event)
    if event["kind"] != KIND:
        return "ignored"
    data = event.get("data") or {}
    if not isinstance(data, Mapping):
        return "invalid"
    estate, gateway, seq = event["estate"], event["gateway"], event["seq"]
    register = data.get("register")
    if register is not None and not isinstance(register, str):
        return "invalid"
    try:
        at = _when(event, data)
    except _Unusable:
        return "invalid"
    devices = [d for d in (data.get("meter"), event["device"]) if isinstance(d, str) and d]
    meter = await meter_for_device(conn, estate, gateway, devices, at)
    if meter is None:
        return "unbound"
    if not bills(meter.register, register):
        return "other_register"  # before the value: a voltage's unit is fine for a voltage
    if await conn.scalar(select(MeterReading.id).where(
            MeterReading.estate == estate, MeterReading.event_gateway == gateway, MeterReading.event_seq == seq)):
        return "duplicate"
    point = await point_row(conn, meter.meter_point_id)
    try:
        value = _value(data, point.kind)
    except _Unusable:
        return "invalid"
    flags, note = _quality(data)
    if value > point.register_limit:
        flags.append(OUT_OF_RANGE)  # kept as evidence; consumption holds any period it bounds
    stored = await add_reading(conn, point, meter, at, value, source="gateway", flags=flags, note=note,
                               event=(gateway, seq))
    return "stored" if stored is not None else "conflict"


async def readings_from_events(conn: AsyncConnection, events: Iterable[Any]) -> Counter[str]:
    """readings_from_event for each event; the outcomes counted."""
    counts: Counter[str] = Counter()
    for event in events:
        counts[await readings_from_event(conn, event)] += 1
    return counts


UNUSED_ADVICE: dict[str, str] = {
    "unbound": "no meter is bound to this device: bind its meter (PATCH /api/v1/meters/{id} with gateway and "
               "device) or its periods will be held for missing readings",
    "other_register": "not the register that bills its meter: if it is the meter's cumulative counter, name it in "
                      "the binding (PATCH /api/v1/meters/{id} with register); docs/meters.md, which register bills",
    "invalid": "its data cannot be read (time, value, or a unit that is not one for the meter's kind): check the "
               "device's register map in the gateway's config",
}
"""The outcomes an installer can mend, and how; `duplicate` and `conflict` are redeliveries and need nothing."""


class MeterReadingConsumer:
    """Ingest's consumer of `meter.reading` events: stores the readings and returns every outcome counted, and
    warns in the log, at most once per `warn_every_s` for each gateway, device, register and outcome, about
    readings that were dropped for a reason an installer can mend (a forgotten binding or register)."""

    def __init__(self, warn_every_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.warn_every_s = warn_every_s
        self._clock = clock
        self._warned: dict[tuple[str, ...], float] = {}

    async def __call__(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for row in rows:
            if row["kind"] != KIND:
                continue
            outcome = await readings_from_event(conn, row)
            counts[outcome] += 1
            if outcome in UNUSED_ADVICE:
                self._warn(row, outcome)
        return counts

    def _warn(self, row: Mapping[str, Any], outcome: str) -> None:
        data = row.get("data") if isinstance(row.get("data"), Mapping) else {}
        device = "/".join(str(d) for d in (row["device"], data.get("meter")) if d)
        register = data.get("register")
        key = (str(row["estate"]), str(row["gateway"]), device, str(register), outcome)
        now = self._clock()
        if now - self._warned.get(key, -self.warn_every_s) < self.warn_every_s:
            return
        if len(self._warned) > 10_000:
            self._warned.clear()  # a misbehaving gateway inventing device names cannot grow this without end
        self._warned[key] = now
        log.warning("meter reading from %s/%s %s%s not stored (%s): %s", row["estate"], row["gateway"], device,
                    f" register {register!r}" if isinstance(register, str) else "", outcome, UNUSED_ADVICE[outcome])
