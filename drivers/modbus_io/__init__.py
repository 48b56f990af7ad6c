"""Modbus I/O modules (TCP or RTU): lock relays on coils, door contacts on discrete inputs."""
from drivers.modbus_io.adapter import ModbusIoAdapter, ModuleOffline
from drivers.modbus_io.inputs import KIND, InputChange, InputTracker

__all__ = ["KIND", "InputChange", "InputTracker", "ModbusIoAdapter", "ModuleOffline"]
