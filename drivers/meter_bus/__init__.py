"""Meter buses: one task owns each RS-485 line (or Modbus TCP connection) and polls its meters on a schedule."""
from drivers.meter_bus.adapter import KIND, BusOptions, MeterBusAdapter, MeterHealth, MeterSpec
from drivers.meter_bus.cjt188_reader import Cjt188Reader
from drivers.meter_bus.dlt645_reader import READABLE as DLT645_READABLE
from drivers.meter_bus.dlt645_reader import Dlt645Reader
from drivers.meter_bus.errors import GarbledReply, MeterError, MeterRefused, MeterSilent
from drivers.meter_bus.line import CHAR_BITS, BusLine, LineSpec, char_time, rtu_gap
from drivers.meter_bus.modbus_reader import ModbusReader
from drivers.meter_bus.reading import MeterReader, Reading
from drivers.meter_bus.schedule import Schedule, Slot

__all__ = [
    "CHAR_BITS",
    "DLT645_READABLE",
    "KIND",
    "BusLine",
    "BusOptions",
    "Cjt188Reader",
    "Dlt645Reader",
    "GarbledReply",
    "LineSpec",
    "MeterBusAdapter",
    "MeterError",
    "MeterHealth",
    "MeterReader",
    "MeterRefused",
    "MeterSilent",
    "MeterSpec",
    "ModbusReader",
    "Reading",
    "Schedule",
    "Slot",
    "char_time",
    "rtu_gap",
]
