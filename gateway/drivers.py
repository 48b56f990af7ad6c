"""Which adapter serves which `driver = "..."` name in the config."""
from __future__ import annotations

from drivers.ascii_reader import AsciiReaderAdapter
from drivers.base import DriverStats, Emit
from drivers.wiegand import WiegandReaderAdapter
from edge_config import AsciiReaderDevice, WiegandReaderDevice
from gateway.supervisor import DriverFactory


def _ascii_reader(device: AsciiReaderDevice, emit: Emit, stats: DriverStats) -> AsciiReaderAdapter:
    return AsciiReaderAdapter(device.id, device.port, baudrate=device.baudrate, fmt=device.format, emit=emit,
                              stats=stats, min_digits=device.min_digits, max_digits=device.max_digits)


def _wiegand_reader(device: WiegandReaderDevice, emit: Emit, stats: DriverStats) -> WiegandReaderAdapter:
    bits = None if device.bits == "auto" else device.bits
    return WiegandReaderAdapter(device.id, device.port, baudrate=device.baudrate, fmt=device.format, bits=bits,
                                emit=emit, stats=stats)


FACTORIES: dict[str, DriverFactory] = {
    "ascii_reader": _ascii_reader,
    "wiegand_reader": _wiegand_reader,
}
