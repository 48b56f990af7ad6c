"""The whole gateway config, one typed section per TOML table."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from edge_config._common import EntityId, ResolvedPath, Section, expected
from edge_config.devices import AsciiReaderDevice, DeviceConfig, WiegandReaderDevice, duplicate_ids, duplicate_rule
from edge_config.uplink import TlsConfig, UplinkConfig

__all__ = [
    "AsciiReaderDevice",
    "DeviceConfig",
    "EstateSection",
    "GatewayConfig",
    "GatewaySection",
    "OutboxConfig",
    "TlsConfig",
    "UplinkConfig",
    "WiegandReaderDevice",
]


class EstateSection(Section):
    """[estate]: which estate this gateway serves."""

    id: EntityId
    name: str | None = None


class GatewaySection(Section):
    """[gateway]: which gatehouse gateway this is, within the estate."""

    id: EntityId


def _not_a_directory(path: Path) -> Path:
    if path.is_dir():
        raise expected(f"expected a file path ({path} is a directory)")
    return path


class OutboxConfig(Section):
    """[outbox]: the SQLite file that holds events until the broker acknowledges them."""

    path: Annotated[ResolvedPath, AfterValidator(_not_a_directory)]
    max_events: int = Field(1_000_000, ge=1000, le=100_000_000)
    warn_fraction: float = Field(0.8, ge=0.1, le=0.99)
    synchronous: Literal["full", "normal"] = "full"


class GatewayConfig(Section):
    """A gateway's complete config file."""

    config_version: str = "unversioned"
    estate: EstateSection
    gateway: GatewaySection
    uplink: UplinkConfig
    outbox: OutboxConfig
    devices: tuple[DeviceConfig, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_client_id(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("uplink"), dict):
            return data
        if data["uplink"].get("client_id", "") != "":
            return data
        estate, gateway = data.get("estate"), data.get("gateway")
        estate_id = estate.get("id") if isinstance(estate, dict) else None
        gateway_id = gateway.get("id") if isinstance(gateway, dict) else None
        if not (isinstance(estate_id, str) and isinstance(gateway_id, str)):
            return data
        uplink = {**data["uplink"], "client_id": f"estatelink-gw-{estate_id}-{gateway_id}"}
        return {**data, "uplink": uplink}

    @field_validator("devices", mode="before")
    @classmethod
    def _array_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("devices")
    @classmethod
    def _unique_ids(cls, devices: tuple[DeviceConfig, ...]) -> tuple[DeviceConfig, ...]:
        repeats = duplicate_ids([device.id for device in devices])
        if repeats:
            details: list[InitErrorDetails] = [
                {
                    "type": expected(duplicate_rule(first)),
                    "loc": (index, devices[index].driver, "id"),
                    "input": devices[index].id,
                }
                for index, first in repeats
            ]
            raise ValidationError.from_exception_data("GatewayConfig", details)
        return devices
