"""[[devices]] with driver = "meter_bus": one RS-485 line (or Modbus TCP connection) and the meters on it,
and [meter_models.<name>]: Modbus register maps shared by every meter of a model.

Keys that depend on the protocol default by protocol (`None` here means "the protocol's default", which
the `line_*` properties and `response_ms_of()` resolve). Keys that a protocol does not use are errors,
so a Modbus unit id on a DL/T 645 meter is reported, not ignored. A Modbus meter's register map is its
model's registers (built-in or from [meter_models]) followed by its own; GatewayConfig resolves the model
names once everything is validated, and `register_map` hands the result to the gateway.
"""
from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from edge_config._common import EntityId, Section, expected, problem
from edge_config.devices import Baudrate, DeviceBase, DevicePort, split_tcp

MeterProtocol = Literal["dlt645", "cjt188", "modbus_rtu", "modbus_tcp"]
Dlt645Register = Literal["combined_active_energy", "forward_active_energy", "voltage_a", "current_a", "active_power"]
CJT188_METER_TYPES = {"cold_water": 0x10, "hot_water": 0x11, "drinking_water": 0x12, "reclaimed_water": 0x13,
                      "gas": 0x30, "custom": 0x40}
Cjt188MeterType = Literal["cold_water", "hot_water", "drinking_water", "reclaimed_water", "gas", "custom"]
"""Heat and cooling meters (20H, 21H) are left out: their 901FH reply has a longer layout the codec does not read
yet, so configuring one would only fail every poll (docs/meters.md)."""
RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32", "bcd16", "bcd32"]
WORDS = {"int16": 1, "uint16": 1, "bcd16": 1, "int32": 2, "uint32": 2, "float32": 2, "bcd32": 2}

DEFAULTS: dict[str, dict[str, Any]] = {
    "dlt645": {"baudrate": 2400, "parity": "E", "response_ms": 500.0, "turnaround_ms": 100.0},
    "cjt188": {"baudrate": 2400, "parity": "E", "response_ms": 1000.0, "turnaround_ms": 100.0},
    "modbus_rtu": {"baudrate": 9600, "parity": "N", "response_ms": 500.0, "turnaround_ms": 100.0},
    "modbus_tcp": {"baudrate": None, "parity": None, "response_ms": 1000.0, "turnaround_ms": 0.0},
}
"""Each protocol's defaults: DL/T 645-2007 and CJ/T 188-2004 meters ship at 2400 baud 8E1; Modbus meters
most often at 9600 8N1. The response allowance covers DL/T 645's 500 ms limit on a meter's reply delay."""
SERIAL_KEYS = ("baudrate", "parity", "bytesize", "stopbits", "gap_ms")
_USES = {  # meter keys each protocol takes; the others must be left out
    "dlt645": {"address", "read", "read_clock"},
    "cjt188": {"address", "meter_type", "di_order"},
    "modbus_rtu": {"unit_id", "model", "registers", "read", "max_gap"},
    "modbus_tcp": {"unit_id", "model", "registers", "read", "max_gap"},
}
_OPTIONAL_METER_KEYS = ("address", "unit_id", "read", "read_clock", "meter_type", "di_order", "model", "registers",
                        "max_gap")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_Problem = tuple[tuple[str | int, ...], PydanticCustomError, Any]
"""Where (relative to the model being checked), what, and the value that was wrong."""


def rtu_gap_ms(baudrate: int) -> float:
    """The Modbus RTU inter-frame silence in ms: 3.5 characters of 11 bits, fixed at 1.75 ms above 19200 baud."""
    return 1.75 if baudrate > 19200 else 3.5 * 11 * 1000 / baudrate


def _listed(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _scale(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise expected("expected a number, or a decimal number as a string")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)  # repr: 0.01, not 0.01000000000000000020
    except InvalidOperation:
        raise expected("expected a number, or a decimal number as a string") from None
    if not number.is_finite() or not number:
        raise expected("expected a finite, non-zero number")
    return number


def _register_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise expected("expected a name of 1 to 64 of a-z, 0-9, '_', starting with a letter")
    return value


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise expected("expected an IANA time zone name, like \"Asia/Shanghai\"") from None
    return value


class RegisterEntry(Section):
    """One named reading in a Modbus register map (drivers.modbus_meter.Register)."""

    name: Annotated[str, AfterValidator(_register_name)]
    address: int = Field(ge=0, le=65535)
    function: Literal["holding", "input"] = "holding"
    type: RegisterType
    order: Literal["ABCD", "CDAB", "BADC", "DCBA"]
    scale: Annotated[Decimal, BeforeValidator(_scale)] = Decimal(1)
    unit: str = ""

    @model_validator(mode="after")
    def _fits(self) -> RegisterEntry:
        if self.address + WORDS[self.type] > 0x10000:
            raise _error("RegisterEntry", [(("address",), expected(f"expected an address a {self.type} fits "
                                                                     "below 65536"), self.address)])
        return self


Registers = Annotated[tuple[RegisterEntry, ...], BeforeValidator(_listed)]


def _unique_names(registers: tuple[RegisterEntry, ...], at: tuple[str | int, ...]) -> list[_Problem]:
    seen: set[str] = set()
    problems = []
    for index, entry in enumerate(registers):
        if entry.name in seen:
            problems.append(((*at, index, "name"), expected("expected a name not used by another register"),
                             entry.name))
        seen.add(entry.name)
    return problems


class MeterModel(Section):
    """[meter_models.<name>]: the register map of one meter model, shared by its meters."""

    registers: Registers
    max_gap: int = Field(0, ge=0, le=124)
    note: str = ""

    @model_validator(mode="after")
    def _names_unique(self) -> MeterModel:
        problems = _unique_names(self.registers, ("registers",))
        if not self.registers:
            problems.append((("registers",), problem("a model needs at least one register"), None))
        if problems:
            raise _error("MeterModel", problems)
        return self


class MeterEntry(Section):
    """[[devices.meters]]: one meter on the bus."""

    id: EntityId
    address: str | None = None
    unit_id: int | None = Field(None, ge=0, le=255)
    period_s: float | None = Field(None, ge=1, le=86400)
    response_ms: float | None = Field(None, gt=0, le=60000)
    read: Annotated[tuple[str, ...], BeforeValidator(_listed)] | None = None
    read_clock: bool | None = None
    meter_type: Cjt188MeterType | None = None
    di_order: Literal["big", "little"] | None = None
    model: str | None = None
    registers: Registers | None = None
    max_gap: int | None = Field(None, ge=0, le=124)
    _map: tuple[RegisterEntry, ...] | None = PrivateAttr(None)
    _model_gap: int = PrivateAttr(0)

    @property
    def register_map(self) -> tuple[RegisterEntry, ...]:
        """A Modbus meter's registers: its model's, then its own, narrowed to `read`; LookupError if unresolved."""
        if self._map is None:
            raise LookupError(f"meter {self.id}: model {self.model!r} has not been resolved")
        return self._map

    @property
    def read_gap(self) -> int:
        """How many unmapped registers one read may span: the meter's max_gap, else its model's."""
        return self.max_gap if self.max_gap is not None else self._model_gap

    def resolve(self, model: MeterModel | None) -> list[_Problem]:
        """Fix the register map from `model` (None: the meter's own registers only); return problems found."""
        entries = (model.registers if model else ()) + (self.registers or ())
        problems = _unique_names(entries, ("registers",))
        if not entries:
            problems.append((("registers",), problem("required when the meter names no model"), None))
        names = {entry.name for entry in entries}
        for index, name in enumerate(self.read or ()):
            if name not in names:
                problems.append((("read", index), expected("expected a register of the meter's map ("
                                                           + ", ".join(sorted(names)) + ")"), name))
        if not problems:
            self._map = tuple(e for e in entries if self.read is None or e.name in self.read)
            self._model_gap = model.max_gap if model else 0
        return problems


def _error(title: str, problems: list[_Problem]) -> ValidationError:
    details: list[InitErrorDetails] = [{"type": error, "loc": loc, "input": value} for loc, error, value in problems]
    return ValidationError.from_exception_data(title, details)


def _address_rule(text: str, digits: int) -> bool:
    pairs = [text[i:i + 2] for i in range(0, digits, 2)]
    return len(text) == digits and text.isascii() and all(p.upper() == "AA" or p.isdigit() for p in pairs)


class MeterBusDevice(DeviceBase):
    """A meter bus: its line, its protocol, its timing, and the meters on it."""

    driver: Literal["meter_bus"]
    port: DevicePort
    protocol: MeterProtocol
    baudrate: Baudrate | None = None
    parity: Literal["N", "E", "O"] | None = None
    bytesize: Literal[7, 8] | None = None
    stopbits: Literal[1, 2] | None = None
    period_s: float = Field(60.0, ge=1, le=86400)
    response_ms: float | None = Field(None, gt=0, le=60000)
    gap_ms: float | None = Field(None, ge=0, le=10000)
    turnaround_ms: float | None = Field(None, ge=0, le=10000)
    retry_s: float = Field(1.0, gt=0, le=3600)
    backoff_max_s: float = Field(300.0, ge=1, le=86400)
    meter_timezone: Annotated[str, AfterValidator(_zone)] = "Asia/Shanghai"
    max_clock_skew_s: float = Field(300.0, ge=0, le=31_536_000)
    meters: Annotated[tuple[MeterEntry, ...], BeforeValidator(_listed)]

    @property
    def tcp_endpoint(self) -> tuple[str, int] | None:
        """(host, port) when `port` is tcp://host:port (a serial server, or Modbus TCP), None for a serial path."""
        return split_tcp(self.port)

    @property
    def line_baudrate(self) -> int | None:
        """The line's speed (None for Modbus TCP, which has no line of its own)."""
        return self.baudrate if self.baudrate is not None else DEFAULTS[self.protocol]["baudrate"]

    @property
    def line_parity(self) -> str:
        """The line's parity: N, E or O."""
        return self.parity or DEFAULTS[self.protocol]["parity"] or "N"

    @property
    def line_gap_ms(self) -> float:
        """The silence kept before each request: gap_ms, else 3.5 characters at the line's speed."""
        if self.gap_ms is not None:
            return self.gap_ms
        return rtu_gap_ms(self.line_baudrate) if self.line_baudrate else 0.0

    @property
    def line_turnaround_ms(self) -> float:
        """The quiet time after an exchange that ended without its reply."""
        return self.turnaround_ms if self.turnaround_ms is not None else DEFAULTS[self.protocol]["turnaround_ms"]

    def response_ms_of(self, meter: MeterEntry) -> float:
        """The meter's response allowance: its own, else the bus's, else the protocol's default."""
        for value in (meter.response_ms, self.response_ms):
            if value is not None:
                return value
        return float(DEFAULTS[self.protocol]["response_ms"])

    def period_of(self, meter: MeterEntry) -> float:
        """The meter's poll period: its own, else the bus's."""
        return meter.period_s if meter.period_s is not None else self.period_s

    @model_validator(mode="after")
    def _protocol_rules(self) -> MeterBusDevice:
        from edge_config.meter_models import BUILTIN_MODELS

        problems = self._line_problems()
        if not self.meters:
            problems.append((("meters",), problem("a meter bus needs at least one [[devices.meters]]"), None))
        ids: set[str] = set()
        addresses: set[Any] = set()
        for index, meter in enumerate(self.meters):
            at: tuple[str | int, ...] = ("meters", index)
            if meter.id in ids:
                problems.append(((*at, "id"), expected("expected an id not used by another meter"), meter.id))
            ids.add(meter.id)
            problems += [((*at, *loc), error, value) for loc, error, value in self._meter_problems(meter)]
            where = meter.address.upper() if meter.address else meter.unit_id
            if where is not None and where in addresses:
                key = "address" if meter.address else "unit_id"
                problems.append(((*at, key), expected(f"expected {'an address' if meter.address else 'a unit id'} "
                                                      "not used by another meter on this bus"), where))
            addresses.add(where)
            if self.protocol.startswith("modbus") and not problems and (meter.model is None
                                                                         or meter.model in BUILTIN_MODELS):
                model = BUILTIN_MODELS.get(meter.model) if meter.model else None
                problems += [((*at, *loc), error, value) for loc, error, value in meter.resolve(model)]
        if problems:
            raise _error("MeterBusDevice", problems)
        return self

    def _line_problems(self) -> list[_Problem]:
        problems: list[_Problem] = []
        tcp = split_tcp(self.port) is not None
        if self.protocol == "modbus_tcp":
            if not tcp:
                problems.append((("port",), expected("expected tcp://host:port for protocol modbus_tcp"), self.port))
            for key in SERIAL_KEYS:
                if getattr(self, key) is not None:
                    problems.append(((key,), problem("is not used with protocol modbus_tcp (no serial line)"), None))
        elif self.protocol == "modbus_rtu" and self.gap_ms is not None:
            floor = rtu_gap_ms(self.line_baudrate or 9600)
            if self.gap_ms < floor:
                problems.append((("gap_ms",), expected(f"expected at least {floor:.2f} ms (3.5 characters at "
                                                       f"{self.line_baudrate} baud)"), self.gap_ms))
        if self.backoff_max_s < self.retry_s:
            problems.append((("backoff_max_s",), expected(f"expected at least retry_s ({self.retry_s})"),
                             self.backoff_max_s))
        return problems

    def _meter_problems(self, meter: MeterEntry) -> list[_Problem]:
        uses = _USES[self.protocol]
        problems: list[_Problem] = [((key,), problem(f"is not used with protocol {self.protocol}"), None)
                                    for key in _OPTIONAL_METER_KEYS
                                    if key not in uses and getattr(meter, key) is not None]
        if self.protocol in ("dlt645", "cjt188"):
            digits = 12 if self.protocol == "dlt645" else 14
            if meter.address is None:
                problems.append((("address",), problem("required key is missing"), None))
            elif not _address_rule(meter.address, digits):
                problems.append((("address",), expected(f"expected {digits} digits as printed on the meter (a "
                                                        "byte may be AA)"), meter.address))
            elif "AA" in meter.address.upper() and len(self.meters) > 1:
                problems.append((("address",), expected("expected no AA wildcard: other meters share the line"),
                                 meter.address))
        if self.protocol == "dlt645":
            readable = get_args(Dlt645Register)
            for index, name in enumerate(meter.read or ()):
                if name not in readable:
                    problems.append((("read", index), expected("expected one of " + ", ".join(readable)), name))
        if self.protocol.startswith("modbus"):
            low, high = (0, 255) if self.protocol == "modbus_tcp" else (1, 247)
            if meter.unit_id is None:
                problems.append((("unit_id",), problem("required key is missing"), None))
            elif not low <= meter.unit_id <= high:
                problems.append((("unit_id",), expected(f"expected a unit id from {low} to {high}"), meter.unit_id))
            if meter.model is None and not meter.registers:
                problems.append((("registers",), problem("required when the meter names no model"), None))
        return problems
