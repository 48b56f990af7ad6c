"""The whole gateway config, one typed section per TOML table."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails

from edge_config._common import ID_RULE, EntityId, ResolvedPath, Section, expected, problem
from edge_config.access import AccessSection, ContactConfig, DoorConfig, LockConfig, check_doors
from edge_config.devices import AsciiReaderDevice, DeviceConfig, WiegandReaderDevice, duplicate_ids, duplicate_rule
from edge_config.meter_bus import MeterBusDevice, MeterEntry, MeterModel, RegisterEntry
from edge_config.meter_models import BUILTIN_MODELS
from edge_config.modbus_io import ModbusIoDevice
from edge_config.osdp_bus import OsdpBusDevice, OsdpReader
from edge_config.uplink import TlsConfig, UplinkConfig

__all__ = [
    "AccessSection",
    "AsciiReaderDevice",
    "ContactConfig",
    "DeviceConfig",
    "DoorConfig",
    "EstateSection",
    "GatewayConfig",
    "GatewaySection",
    "LockConfig",
    "MeterBusDevice",
    "MeterEntry",
    "MeterModel",
    "ModbusIoDevice",
    "OsdpBusDevice",
    "OsdpReader",
    "OutboxConfig",
    "RegisterEntry",
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
    meter_models: dict[str, MeterModel] = Field(default_factory=dict)
    devices: tuple[DeviceConfig, ...] = ()
    access: AccessSection | None = None
    doors: tuple[DoorConfig, ...] = ()

    @model_validator(mode="after")
    def _door_references(self) -> GatewayConfig:
        # Doors name devices and need [access]: checked once the devices themselves are valid.
        details = [{**detail, "loc": ("doors", *detail["loc"]) if detail["loc"] else ("access",)}
                   for detail in check_doors(self.doors, self.devices, self.access, self.access is not None)]
        if details:
            raise ValidationError.from_exception_data("GatewayConfig", details)  # type: ignore[arg-type]
        return self

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

    @field_validator("devices", "doors", mode="before")
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

    @field_validator("meter_models")
    @classmethod
    def _model_names(cls, models: dict[str, MeterModel]) -> dict[str, MeterModel]:
        details: list[InitErrorDetails] = []
        for name in models:
            if name in BUILTIN_MODELS:
                details.append({"type": problem("is the name of a built-in model; choose another name"),
                                "loc": (name,), "input": name})
            elif not _MODEL_NAME.fullmatch(name):
                details.append({"type": problem(f"the model name must be {ID_RULE}"), "loc": (name,), "input": name})
        if details:
            raise ValidationError.from_exception_data("GatewayConfig", details)
        return models

    @field_validator("devices")
    @classmethod
    def _meters(cls, devices: tuple[DeviceConfig, ...], info: ValidationInfo) -> tuple[DeviceConfig, ...]:
        models = info.data.get("meter_models")
        device_ids = {device.id for device in devices}
        seen: dict[str, int] = {}
        details: list[InitErrorDetails] = []
        for index, device in enumerate(devices):
            if not isinstance(device, MeterBusDevice):
                continue
            for number, meter in enumerate(device.meters):
                at = (index, device.driver, "meters", number)
                if meter.id in device_ids or seen.setdefault(meter.id, index) != index:
                    details.append({"type": expected("expected a meter id used by no other device or meter of "
                                                     "this gateway (central tells meters apart by it)"),
                                    "loc": (*at, "id"), "input": meter.id})
                if models is None or meter.model is None or meter.model in BUILTIN_MODELS:
                    continue  # the device resolved it; or [meter_models] is broken and reported already
                model = models.get(meter.model)
                if model is None:
                    known = ", ".join(sorted({*models, *BUILTIN_MODELS}))
                    details.append({"type": expected(f"expected a model from [meter_models] or a built-in one "
                                                     f"({known})"), "loc": (*at, "model"), "input": meter.model})
                    continue
                details += [{"type": error, "loc": (*at, *loc), "input": value}
                            for loc, error, value in meter.resolve(model)]
        if details:
            raise ValidationError.from_exception_data("GatewayConfig", details)
        return devices


_MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
