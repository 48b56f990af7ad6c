"""[[devices]] with driver = "osdp_bus": one RS-485 line with OSDP readers on it, the gateway their control panel.

Each reader's secure channel base key (SCBK) is 16 bytes, written as 32 hex digits in a file (`scbk_file`) or
in an environment variable (`scbk_env`), exactly one of the two. The key is checked when the config loads and
read again when the bus starts (`resolved_scbk()`); it is never kept in the config, shown, or put in an error.
"""
from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from edge_config._common import EntityId, ExistingFile, Section, error_at, expected, problem
from edge_config.devices import DeviceBase, DevicePort, split_tcp

OsdpBaudrate = Literal[9600, 19200, 38400, 57600, 115200, 230400]
SCBK_D = bytes(range(0x30, 0x40))
"""OSDP's well-known default key (install mode); a reader's own key must not be it."""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_HEX32 = re.compile(r"[0-9A-Fa-f]{32}")


def parse_scbk(text: str, source: str) -> bytes:
    """A key written as 32 hex digits (surrounding whitespace ignored); ValueError names `source`, not the key."""
    digits = text.strip()
    if not _HEX32.fullmatch(digits):
        raise ValueError(f"{source} must hold the key as 32 hex digits (16 bytes)")
    key = bytes.fromhex(digits)
    if key == SCBK_D:
        raise ValueError(f"{source} holds the well-known default key SCBK-D; give the reader a key of its own")
    return key


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise expected("expected an environment variable name (letters, digits and '_', not starting with a digit)")
    return value


def _serial_only(value: str) -> str:
    if split_tcp(value) is not None:
        raise expected("expected a serial device path (libosdp times an OSDP reader's replies on its own line)")
    return value


def _listed(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _not_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if not value:
        raise problem("expected at least one [[devices.readers]] table")
    return value


class OsdpReader(Section):
    """[[devices.readers]]: one OSDP reader (PD) on the bus."""

    id: EntityId
    address: int = Field(ge=0, le=126)
    scbk_file: ExistingFile | None = None
    scbk_env: Annotated[str, AfterValidator(_env_name)] | None = None
    install_mode: bool = False

    @model_validator(mode="after")
    def _one_readable_key(self) -> OsdpReader:
        if self.scbk_file is None and self.scbk_env is None:
            raise error_at("OsdpReader", ("scbk_file",), problem("required: give scbk_file or scbk_env"), None)
        if self.scbk_file is not None and self.scbk_env is not None:
            raise error_at("OsdpReader", ("scbk_env",), problem("give either scbk_file or scbk_env, not both"), None)
        try:
            self.resolved_scbk()
        except (OSError, ValueError) as exc:
            key = "scbk_file" if self.scbk_file is not None else "scbk_env"
            raise error_at("OsdpReader", (key,), problem(str(exc)), None) from None
        return self

    def resolved_scbk(self) -> bytes:
        """The reader's SCBK, read now from its file or environment variable; OSError or ValueError if unusable."""
        if self.scbk_file is not None:
            return parse_scbk(self.scbk_file.read_text(encoding="ascii", errors="replace"), str(self.scbk_file))
        text = os.environ.get(self.scbk_env or "")
        if text is None:
            raise ValueError(f"environment variable {self.scbk_env} is not set")
        return parse_scbk(text, f"environment variable {self.scbk_env}")


class OsdpBusDevice(DeviceBase):
    """An RS-485 line with OSDP readers on it; the gateway is their control panel, over a secure channel."""

    driver: Literal["osdp_bus"]
    port: Annotated[DevicePort, AfterValidator(_serial_only)]
    baudrate: OsdpBaudrate = 9600
    readers: Annotated[tuple[OsdpReader, ...], BeforeValidator(_listed), AfterValidator(_not_empty)]

    @model_validator(mode="after")
    def _unique_readers(self) -> OsdpBusDevice:
        details: list[InitErrorDetails] = []
        for key in ("id", "address"):
            first: dict[object, int] = {}
            for index, reader in enumerate(self.readers):
                value = getattr(reader, key)
                if value in first:
                    rule = f"expected a reader {key} not used by another reader (readers[{first[value]}] has it too)"
                    details.append({"type": expected(rule), "loc": ("readers", index, key), "input": value})
                first.setdefault(value, index)
        if details:
            raise ValidationError.from_exception_data("OsdpBusDevice", details)
        return self
