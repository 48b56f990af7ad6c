"""Which adapter serves which `driver = "..."` name in the config."""
from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from drivers.ascii_reader import AsciiReaderAdapter
from drivers.base import DriverStats, Emit
from drivers.meter_bus import (
    DLT645_READABLE,
    BusOptions,
    Cjt188Reader,
    Dlt645Reader,
    LineSpec,
    MeterBusAdapter,
    MeterReader,
    MeterSpec,
    ModbusReader,
)
from drivers.modbus_meter import Register
from drivers.osdp import KeyUnavailable, OsdpBusAdapter, ReaderSpec
from drivers.wiegand import WiegandReaderAdapter
from edge_config import AsciiReaderDevice, MeterBusDevice, MeterEntry, OsdpBusDevice, WiegandReaderDevice
from edge_config.meter_bus import CJT188_METER_TYPES
from gateway.door_io import modbus_io
from gateway.supervisor import DriverFactory

DLT645_DEFAULT_READ = ("forward_active_energy",)


def _ascii_reader(device: AsciiReaderDevice, emit: Emit, stats: DriverStats) -> AsciiReaderAdapter:
    return AsciiReaderAdapter(device.id, device.port, baudrate=device.baudrate, fmt=device.format, emit=emit,
                              stats=stats, min_digits=device.min_digits, max_digits=device.max_digits)


def _wiegand_reader(device: WiegandReaderDevice, emit: Emit, stats: DriverStats) -> WiegandReaderAdapter:
    bits = None if device.bits == "auto" else device.bits
    return WiegandReaderAdapter(device.id, device.port, baudrate=device.baudrate, fmt=device.format, bits=bits,
                                emit=emit, stats=stats)


def _meter_reader(device: MeterBusDevice, meter: MeterEntry) -> MeterReader:
    response_s = device.response_ms_of(meter) / 1000
    if device.protocol == "dlt645":
        dis = [DLT645_READABLE[name] for name in meter.read or DLT645_DEFAULT_READ]
        return Dlt645Reader(meter.address or "", dis, read_clock=bool(meter.read_clock), response_s=response_s)
    if device.protocol == "cjt188":
        return Cjt188Reader(meter.address or "", meter_type=CJT188_METER_TYPES[meter.meter_type or "cold_water"],
                            di_order=meter.di_order or "big", response_s=response_s)
    registers = [Register(name=e.name, address=e.address, function=e.function, type=e.type, order=e.order,
                          scale=Decimal(e.scale), unit=e.unit) for e in meter.register_map]
    return ModbusReader(meter.unit_id or 0, registers, tcp=device.protocol == "modbus_tcp", max_gap=meter.read_gap,
                        response_s=response_s)


def meter_bus(device: MeterBusDevice, emit: Emit, stats: DriverStats) -> MeterBusAdapter:
    """The adapter for a meter bus device: its line, its meters' readers, its backoff and clock rules."""
    line = LineSpec(device.port, baudrate=device.line_baudrate, parity=device.line_parity,  # type: ignore[arg-type]
                    bytesize=device.bytesize or 8, stopbits=device.stopbits or 1, gap_s=device.line_gap_ms / 1000,
                    turnaround_s=device.line_turnaround_ms / 1000)
    meters = [MeterSpec(meter.id, device.period_of(meter), _meter_reader(device, meter)) for meter in device.meters]
    options = BusOptions(retry_s=device.retry_s, backoff_max_s=device.backoff_max_s,
                         timezone=ZoneInfo(device.meter_timezone), max_clock_skew_s=device.max_clock_skew_s)
    return MeterBusAdapter(device.id, line, meters, emit=emit, stats=stats, options=options)


def osdp_bus(device: OsdpBusDevice, emit: Emit, stats: DriverStats) -> OsdpBusAdapter:
    """The adapter for an OSDP bus, with each reader's SCBK read now from its file or environment variable."""
    readers = []
    for reader in device.readers:
        try:
            scbk = reader.resolved_scbk()
        except (OSError, ValueError) as exc:  # the messages name where the key was looked for, never the key
            raise KeyUnavailable(f"{device.id}: reader {reader.id}: {exc}") from None
        readers.append(ReaderSpec(reader.id, reader.address, scbk, install_mode=reader.install_mode))
    return OsdpBusAdapter(device.id, device.port, baudrate=device.baudrate, readers=readers, emit=emit, stats=stats)


FACTORIES: dict[str, DriverFactory] = {
    "ascii_reader": _ascii_reader,
    "wiegand_reader": _wiegand_reader,
    "meter_bus": meter_bus,
    "osdp_bus": osdp_bus,
    "modbus_io": modbus_io,  # the access runtime rebinds it with the lock coils to switch off at connect
}
