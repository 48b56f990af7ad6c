"""The demo estate's devices: the simulators `estatelink demo` runs, and the gateway config that reads them."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from string import Template


@dataclass(frozen=True, slots=True)
class DemoDoor:
    """A door of gateway gate-1: its reader device (and OSDP reader), and the I/O module's coil and input for it."""

    code: str
    name: str
    reader: str
    io: int
    pd: str = ""

    def toml(self) -> str:
        """Its [[doors]] table."""
        reader = f"{self.reader}/{self.pd}" if self.pd else self.reader
        return (f'[[doors]]\nid = "{self.code}"\nname = "{self.name}"\nreaders = ["{reader}"]\n'
                f'lock = {{modbus = "door-io", coil = {self.io}}}\n'
                f'contact = {{modbus = "door-io", input = {self.io}}}\n')


DOORS = (DemoDoor("main-gate", "正门 Main gate", "main-gate-reader", 0),
         DemoDoor("side-gate", "侧门 Side gate", "side-gate-reader", 1),
         DemoDoor("garage", "车库 Garage", "garage-osdp", 2, pd="garage-in"))


@dataclass(frozen=True, slots=True)
class DemoMeter:
    """A gateway meter (its bus, and its address or Modbus unit there) and the unit's meter point at central."""

    id: str
    bus: str
    address: str
    kind: str
    building: str
    unit: str
    serial: str
    first_reading: str
    register_limit: str
    max_per_day: str

    @property
    def register(self) -> str | None:
        """The register central bills it from, named in its binding: a Modbus map of our own names it; the
        DL/T 645 and CJ/T 188 meters report well-known counters (docs/meters.md, "Which register bills")."""
        return MODBUS_REGISTER_NAMES[self.kind] if self.bus == "modbus-meters" else None

    def toml(self) -> str:
        """Its [[devices.meters]] table."""
        if self.bus != "modbus-meters":
            return f'[[devices.meters]]\nid = "{self.id}"\naddress = "{self.address}"\n'
        register = MODBUS_REGISTERS[self.kind]
        return f'[[devices.meters]]\nid = "{self.id}"\nunit_id = {self.address}\nregisters = [\n  {register},\n]\n'


# The registers of the Modbus meter simulator's units 1 and 2 (simulators/modbus_meter.py, _DEMO), and their names.
MODBUS_REGISTER_NAMES = {"electricity": "energy_total", "water": "volume"}
MODBUS_REGISTERS = {
    "electricity": f'{{ name = "{MODBUS_REGISTER_NAMES["electricity"]}", address = 342, function = "input", '
                   'type = "float32", order = "ABCD", unit = "kWh" }',
    "water": f'{{ name = "{MODBUS_REGISTER_NAMES["water"]}", address = 0, type = "uint32", order = "CDAB", '
             'scale = "0.001", unit = "m3" }',
}
# First readings are the simulators' start values (simulators/meter_bus_sim.py demo_meters, modbus_meter._DEMO).
METERS = (
    DemoMeter("e-1-0101", "power-bus", "000000000001", "electricity", "1", "0101", "000000000001", "1000.00",
              "999999.99", "500"),
    DemoMeter("e-1-0102", "power-bus", "000000000002", "electricity", "1", "0102", "000000000002", "1111.11",
              "999999.99", "500"),
    DemoMeter("w-1-0101", "water-bus", "00000000000001", "water", "1", "0101", "00000000000001", "10.00",
              "999999.99", "500"),
    DemoMeter("w-1-0102", "water-bus", "00000000000002", "water", "1", "0102", "00000000000002", "13.33",
              "999999.99", "500"),
    DemoMeter("e-2-0101", "modbus-meters", "1", "electricity", "2", "0101", "MB-TCP-1", "1234.50", "999999.99",
              "5000"),
    DemoMeter("w-2-0101", "modbus-meters", "2", "water", "2", "0101", "MB-TCP-2", "12.345", "99999.999", "500"),
)

GATEWAY_PART = Template("""
# ---- written by `estatelink demo` from estatelink/demo_devices.py: the rest of the demo estate ----
[[devices]]
id = "side-gate-reader"
driver = "wiegand_reader"
port = $side_link
format = "hex_line"

[[devices]]
id = "garage-osdp"
driver = "osdp_bus"
port = $garage_link

[[devices.readers]]
id = "garage-in"
address = 0
scbk_file = $scbk

[[devices]]
id = "door-io"
driver = "modbus_io"
port = "tcp://127.0.0.1:$io_port"
inputs = 8
coils = 8

[[devices]]
id = "power-bus"
driver = "meter_bus"
port = $power_link
protocol = "dlt645"
parity = "N"                    # a pseudo-terminal carries no parity
period_s = 10

$power_meters
[[devices]]
id = "water-bus"
driver = "meter_bus"
port = $water_link
protocol = "cjt188"
parity = "N"
period_s = 10

$water_meters
[[devices]]
id = "modbus-meters"
driver = "meter_bus"
port = "tcp://127.0.0.1:$modbus_port"
protocol = "modbus_tcp"
period_s = 10

$modbus_meters
[access]
cache_path = $cache
pass_public_key = "$pass_key"

$doors""")


def _toml(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def gateway_part(links: Path, var: Path, scbk: Path, *, io_port: int, modbus_port: int, pass_key: str) -> str:
    """The devices, [access] and [[doors]] appended to the example demo.toml for this run."""
    def meters(bus: str) -> str:
        return "\n".join(meter.toml() for meter in METERS if meter.bus == bus)
    return GATEWAY_PART.substitute(
        side_link=_toml(links / "side-gate-reader"), garage_link=_toml(links / "garage-osdp"), scbk=_toml(scbk),
        io_port=io_port, power_link=_toml(links / "power-bus"), power_meters=meters("power-bus"),
        water_link=_toml(links / "water-bus"), water_meters=meters("water-bus"), modbus_port=modbus_port,
        modbus_meters=meters("modbus-meters"), cache=_toml(var / "gate-1" / "access.sqlite"), pass_key=pass_key,
        doors="\n".join(door.toml() for door in DOORS))


def reader_key(var: Path) -> Path:
    """The garage reader's SCBK file (32 hex digits, mode 0600), made once; its text is never printed."""
    path = var / "garage-osdp.scbk"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(16) + "\n")
    path.chmod(0o600)
    return path


@dataclass(frozen=True, slots=True)
class Simulator:
    """One simulator process: its command after the interpreter, the line it prints once serving, its stop signal."""

    name: str
    argv: tuple[str, ...]
    ready: re.Pattern[str]
    stop: int = signal.SIGTERM


PTY_READY = re.compile(r"^/\S+$")


def serving_simulators(links: Path) -> list[Simulator]:
    """The simulators that only answer (I/O module, meters); the gateway needs their TCP ports."""
    sim = ("-m", "estatelink.cli", "sim")

    def count(bus: str) -> str:
        return str(sum(meter.bus == bus for meter in METERS))  # the simulators' addresses run 1..N
    return [
        Simulator("io-sim", (*sim, "modbus-io", "--port", "0"), re.compile(r"^modbus-io tcp [\d.]+:(\d+)")),
        Simulator("power-sim", (*sim, "meter-bus", "--protocol", "dlt645", "--meters", count("power-bus"),
                                "--link", str(links / "power-bus"), "--tick", "5"), PTY_READY),
        Simulator("water-sim", (*sim, "meter-bus", "--protocol", "cjt188", "--meters", count("water-bus"),
                                "--link", str(links / "water-bus"), "--tick", "5"), PTY_READY),
        Simulator("modbus-meter-sim", (*sim, "modbus-meter", "--tcp", "0", "--tick", "10"),
                  re.compile(r"^modbus tcp [\d.]+:(\d+)")),
    ]


def reader_simulators(links: Path, scbk: Path, rate: float) -> list[Simulator]:
    """The card readers: they present cards from the moment they start, so they start just before the gateway."""
    sim = ("-m", "estatelink.cli", "sim")
    slower = str(min(rate, 1.0) / 2)  # the side gate and the garage are quieter than the main gate
    return [
        Simulator("main-gate-sim", (*sim, "card-reader", "--link", str(links / "main-gate-reader"),
                                    "--rate", str(rate), "--garble", "0.05"), PTY_READY),
        Simulator("side-gate-sim", (*sim, "wiegand-reader", "--link", str(links / "side-gate-reader"),
                                    "--format", "hex_line", "--rate", slower, "--garble", "0.02"), PTY_READY),
        # Not an `estatelink sim` command; it stops on SIGINT (KeyboardInterrupt), removing its link.
        Simulator("garage-sim", ("-m", "simulators.osdp_reader", "--link", str(links / "garage-osdp"),
                                 "--address", "0", "--scbk-file", str(scbk), "--rate", slower), PTY_READY,
                  signal.SIGINT),
    ]


COIL_ON = re.compile(r"\bcoil (\d+) ON$")


async def walk_through(stdin: asyncio.StreamWriter, coil: int) -> None:
    """Someone walks through a released door: its contact opens, then closes, so the door reports a passage."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        for delay, command in ((0.5, "open"), (2.0, "close")):
            await asyncio.sleep(delay)
            stdin.write(f"{command} {coil}\n".encode())
            await stdin.drain()
