"""[[devices]]: the hardware a gateway reads, one model per driver, picked by the `driver` key."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Union, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from edge_config._common import EntityId, Section, expected

PORT_RULE = "expected a serial device path or tcp://host:port"
Baudrate = Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]


def split_tcp(port: str) -> tuple[str, int] | None:
    """(host, port) of a tcp://host:port device address, None for a serial path; ValueError if malformed."""
    if not port.startswith("tcp://"):
        return None
    parts = urlsplit(port)
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username:
        raise ValueError(port)
    number = parts.port  # ValueError when not a number or above 65535
    if number is None or number == 0:
        raise ValueError(port)
    return parts.hostname, number


def _check_port(value: str) -> str:
    # Any absolute path: udev symlinks (/dev/serial/by-id/...) and the demo's pty link count, and
    # a USB adapter may be plugged in after the gateway starts, so existence is not checked here.
    if value.startswith("/") and value.strip() == value and "\0" not in value:
        return value
    try:
        if split_tcp(value) is not None:
            return value
    except ValueError:
        raise expected(f"{PORT_RULE} with a port from 1 to 65535") from None
    raise expected(PORT_RULE)


DevicePort = Annotated[str, AfterValidator(_check_port)]


class DeviceBase(Section):
    """Keys every device has, whatever its driver."""

    id: EntityId
    driver: str
    enabled: bool = True


class SerialLineDevice(DeviceBase):
    """A device on a serial line, or on a serial-to-TCP converter."""

    port: DevicePort
    baudrate: Baudrate = 9600

    @property
    def tcp_endpoint(self) -> tuple[str, int] | None:
        """(host, port) when `port` is tcp://host:port, None for a serial device path."""
        return split_tcp(self.port)


class AsciiReaderDevice(SerialLineDevice):
    """A card reader that prints each card number as a line of ASCII."""

    driver: Literal["ascii_reader"]
    format: Literal["em4100", "decimal_line", "text_line"] = "em4100"
    min_digits: int = Field(4, ge=1, le=32)
    max_digits: int = Field(20, ge=1, le=32)

    @field_validator("max_digits")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_digits")
        if low is not None and value < low:
            raise expected(f"expected an integer >= min_digits ({low})")
        return value


# TOML has no null, so "auto" (take the length from each frame) is a value of its own.
WiegandBits = Literal["auto", 26, 34]


class WiegandReaderDevice(SerialLineDevice):
    """A Wiegand 26/34 reader behind a Wiegand-to-serial converter."""

    driver: Literal["wiegand_reader"]
    format: Literal["hex_line", "decimal_line_fc", "binary_stx"] = "hex_line"
    bits: WiegandBits = "auto"

    @field_validator("bits", mode="before")
    @classmethod
    def _no_float_bits(cls, value: object) -> object:
        # A Literal matches by equality, so 26.0 would pass as 26; a float here is a mistake to report.
        if isinstance(value, float):
            raise expected("expected one of " + ", ".join(repr(choice) for choice in get_args(WiegandBits)))
        return value


# The meter bus model builds on DeviceBase and the port rules above, so it is imported only here.
from edge_config.meter_bus import MeterBusDevice  # noqa: E402
from edge_config.osdp_bus import OsdpBusDevice  # noqa: E402  (the same reason)
from edge_config.modbus_io import ModbusIoDevice  # noqa: E402  (the same reason)

# A new driver is one more model class in this union; pydantic picks it by its `driver` literal.
DeviceConfig = Annotated[Union[AsciiReaderDevice, WiegandReaderDevice, MeterBusDevice, OsdpBusDevice,  # noqa: UP007
                               ModbusIoDevice], Field(discriminator="driver")]


def duplicate_ids(ids: Sequence[object]) -> list[tuple[int, int]]:
    """(index, index of the first device with that id) for every device whose id repeats an earlier one."""
    first: dict[str, int] = {}
    repeats = []
    for index, device_id in enumerate(ids):
        if isinstance(device_id, str):
            if device_id in first:
                repeats.append((index, first[device_id]))
            else:
                first[device_id] = index
    return repeats


def duplicate_rule(first: int) -> str:
    """What a repeated device id is told."""
    return f"expected an id not used by another device (devices[{first}] has it too)"
