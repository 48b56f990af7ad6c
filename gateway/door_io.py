"""What the access runtime asks of drivers, as small protocols, and the modbus_io driver factory.

The runtime never imports a driver class: it finds the adapter running for a device (Supervisor.driver) and
calls it if it has the method. A lock is a coil of a Modbus I/O module (`pulse(coil, seconds)`, the adapter
times the pulse) or an output of an OSDP reader (`output(pd, output_no, on_ms)`, the reader times it).
A reader that can show the decision (an OSDP reader's LED and buzzer) has `feedback(pd, granted)`.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from drivers.base import DriverStats, Emit
from drivers.modbus_io import ModbusIoAdapter
from edge_config import DoorConfig, ModbusIoDevice
from edge_config.access import split_ref

log = logging.getLogger("gateway.access")


@runtime_checkable
class ReaderFeedback(Protocol):
    """A reader that shows a decision: green and one beep for a grant, red for a deny."""

    async def feedback(self, pd: str | int, granted: bool) -> Any: ...


@runtime_checkable
class CoilPulser(Protocol):
    """An I/O module that switches a coil on for a while, and off again whatever happens."""

    def start_pulse(self, coil: int, seconds: float) -> Awaitable[None]: ...


@runtime_checkable
class OutputPulser(Protocol):
    """A reader with outputs that it switches on for `on_ms` and off again by itself."""

    async def output(self, pd: str | int, output_no: int, on_ms: int) -> None: ...


class LockUnavailable(Exception):
    """The lock's device is not running or cannot pulse: the door was not released."""


@dataclass(frozen=True, slots=True)
class LockTarget:
    """One lock output: ("modbus", io module, coil) or ("osdp", bus, output) with the bus's reader."""

    kind: str
    device: str
    number: int
    pd: str | None = None

    @property
    def key(self) -> tuple[str, str, int, str | None]:
        """Doors with the same key share one lock (an entry and an exit reader on one gate)."""
        return self.kind, self.device, self.number, self.pd

    def start(self, driver_of: Callable[[str], Any], seconds: float) -> Awaitable[None]:
        """Begin releasing the lock for `seconds` now; await the result to know it happened (or LockUnavailable)."""
        # A Modbus coil's request is under way once this returns: no loop turn is spent first on the tap's path.
        driver = driver_of(self.device)
        try:
            if self.kind == "modbus" and isinstance(driver, CoilPulser):
                return _checked(self.device, driver.start_pulse(self.number, seconds))
            if self.kind == "osdp" and isinstance(driver, OutputPulser) and self.pd is not None:
                return _checked(self.device, driver.output(self.pd, self.number, max(1, round(seconds * 1000))))
        except Exception as exc:  # the device's own error says why (offline, refused)
            raise LockUnavailable(f"{self.device}: {exc}") from exc
        raise LockUnavailable(f"{self.device} is not running" if driver is None else
                              f"{self.device} cannot pulse a {self.kind} lock")

    async def pulse(self, driver_of: Callable[[str], Any], seconds: float) -> None:
        """Release the lock for `seconds` and wait until the device confirmed it; LockUnavailable if not."""
        await self.start(driver_of, seconds)


async def _checked(device: str, pending: Awaitable[None]) -> None:
    try:
        await pending
    except Exception as exc:
        raise LockUnavailable(f"{device}: {exc}") from exc


def lock_target(door: DoorConfig, devices: Sequence[Any]) -> LockTarget:
    """The lock a door's config names, with an OSDP bus's only reader filled in when none was named."""
    kind, target, number = door.lock.target
    if kind == "modbus":
        return LockTarget("modbus", target, number)
    device_id, pd = split_ref(target)
    if pd is None:
        bus = next((d for d in devices if d.id == device_id), None)
        readers = getattr(bus, "readers", ())
        pd = readers[0].id if len(readers) == 1 else None
    return LockTarget("osdp", device_id, number, pd)


def lock_coils(doors: Sequence[DoorConfig]) -> dict[str, tuple[int, ...]]:
    """{modbus_io device: the coils that drive locks}, switched off whenever that module (re)connects."""
    coils: dict[str, set[int]] = {}
    for door in doors:
        kind, device, number = door.lock.target
        if kind == "modbus":
            coils.setdefault(device, set()).add(number)
    return {device: tuple(sorted(numbers)) for device, numbers in coils.items()}


def modbus_io(device: ModbusIoDevice, emit: Emit, stats: DriverStats, *,
              lock_coils: Mapping[str, Sequence[int]] | None = None) -> ModbusIoAdapter:
    """The adapter for a modbus_io device; `lock_coils` names the coils to switch off at every connect."""
    return ModbusIoAdapter(device.id, device.port, emit=emit, stats=stats, unit_id=device.unit_id,
                           inputs=device.inputs, coils=device.coils, baudrate=device.baudrate, parity=device.parity,
                           poll_s=device.poll_ms / 1000, timeout_s=device.timeout_ms / 1000,
                           offline_after=device.offline_after, retry_s=(device.retry_s, device.backoff_max_s),
                           lock_coils=(lock_coils or {}).get(device.id, ()))
