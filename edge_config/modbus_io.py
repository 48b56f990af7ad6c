"""[[devices]] with driver = "modbus_io": a Modbus I/O module whose coils drive door lock relays and whose
discrete inputs read door contacts (drivers.modbus_io).

`port` says the transport: tcp://host:port is Modbus TCP (the module's own Ethernet port, MBAP framing);
a serial device path is Modbus RTU on RS-485. `inputs` and `coils` describe the module (how many of each it
has); the doors that use it are checked against them.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge_config._common import error_at, expected
from edge_config.devices import Baudrate, DeviceBase, DevicePort, split_tcp


class ModbusIoDevice(DeviceBase):
    """A Modbus TCP or RTU I/O module: lock relays on its coils, door contacts on its discrete inputs."""

    driver: Literal["modbus_io"]
    port: DevicePort
    baudrate: Baudrate = 9600
    parity: Literal["N", "E", "O"] = "N"
    unit_id: int = Field(1, ge=0, le=247)
    inputs: int = Field(8, ge=0, le=2000)
    coils: int = Field(8, ge=0, le=2000)
    poll_ms: int = Field(100, ge=20, le=10_000)
    timeout_ms: int = Field(500, ge=20, le=10_000)
    offline_after: int = Field(3, ge=1, le=100)
    retry_s: float = Field(1.0, gt=0, le=3600)
    backoff_max_s: float = Field(30.0, ge=1, le=3600)

    @model_validator(mode="after")
    def _backoff_not_below_retry(self) -> ModbusIoDevice:
        if self.backoff_max_s < self.retry_s:
            raise error_at("ModbusIoDevice", ("backoff_max_s",),
                           expected(f"expected a number >= retry_s ({self.retry_s})"), self.backoff_max_s)
        return self

    @property
    def tcp_endpoint(self) -> tuple[str, int] | None:
        """(host, port) for Modbus TCP, None for Modbus RTU on a serial path."""
        return split_tcp(self.port)
