"""The wiegand_reader device: it loads with its defaults, its mistakes read as one plain line, it is documented."""
from __future__ import annotations

from pathlib import Path

import pytest

from drivers.base import DeviceEvent, DriverStats
from drivers.wiegand import WiegandReaderAdapter
from edge_config import ConfigError, WiegandReaderDevice, parse_config
from gateway.drivers import FACTORIES
from tests.edge_config.test_loader import DRIVERS

BASE = """
[estate]
id = "demo"
[gateway]
id = "gate-1"
[uplink]
broker = "mqtt://127.0.0.1:1883"
[outbox]
path = "var/outbox.sqlite"
[[devices]]
id = "side-gate"
driver = "wiegand_reader"
port = "/dev/ttyUSB3"
"""
KEYS = "id, driver, enabled, port, baudrate, format, bits"


def device_of(extra: str, tmp_path: Path) -> WiegandReaderDevice:
    (device,) = parse_config(BASE + extra, base_dir=tmp_path).devices
    assert isinstance(device, WiegandReaderDevice)
    return device


def test_defaults(tmp_path: Path) -> None:
    device = device_of("", tmp_path)
    assert (device.id, device.port, device.baudrate, device.format, device.bits, device.enabled) == (
        "side-gate", "/dev/ttyUSB3", 9600, "hex_line", "auto", True)
    assert device.tcp_endpoint is None


@pytest.mark.parametrize(("extra", "expected"), [
    ('format = "binary_stx"\nbits = 34\nbaudrate = 19200', ("binary_stx", 34, 19200)),
    ('format = "decimal_line_fc"\nbits = 26', ("decimal_line_fc", 26, 9600)),
    ('bits = "auto"', ("hex_line", "auto", 9600)),
])
def test_explicit_values(extra: str, expected: tuple[object, ...], tmp_path: Path) -> None:
    device = device_of(extra, tmp_path)
    assert (device.format, device.bits, device.baudrate) == expected


def test_tcp_port(tmp_path: Path) -> None:
    text = BASE.replace('port = "/dev/ttyUSB3"', 'port = "tcp://10.20.0.32:4001"')
    (device,) = parse_config(text, base_dir=tmp_path).devices
    assert device.tcp_endpoint == ("10.20.0.32", 4001)


MISTAKES = {
    "bits not a length": ("bits = 30", "devices[0].bits: expected one of 'auto', 26, 34, got 30"),
    "bits as a string": ('bits = "26"', "devices[0].bits: expected one of 'auto', 26, 34, got '26'"),
    "bits as a float": ("bits = 26.0", "devices[0].bits: expected one of 'auto', 26, 34, got 26.0"),
    "bits as a bool": ("bits = true", "devices[0].bits: expected one of 'auto', 26, 34, got True"),
    "unknown format": (
        'format = "wiegand26"',
        "devices[0].format: expected one of 'hex_line', 'decimal_line_fc', 'binary_stx', got 'wiegand26'"),
    "an ascii_reader key": (
        "min_digits = 4", f"devices[0].min_digits: unknown key (check the spelling; allowed keys: {KEYS})"),
    "misspelt key": (
        'fromat = "hex_line"', f"devices[0].fromat: unknown key (check the spelling; allowed keys: {KEYS})"),
}


@pytest.mark.parametrize(("extra", "expected"), list(MISTAKES.values()), ids=list(MISTAKES))
def test_each_mistake_reads_as_one_plain_problem(extra: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + extra, source="gw.toml", base_dir=tmp_path)
    assert caught.value.problems == [expected]


def test_missing_port_and_unknown_driver(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE.replace('port = "/dev/ttyUSB3"\n', ""), base_dir=tmp_path)
    assert caught.value.problems == ["devices[0].port: required key is missing"]
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE.replace("wiegand_reader", "wiegand"), base_dir=tmp_path)
    assert caught.value.problems == [
        f"devices[0].driver: expected one of {DRIVERS}, got 'wiegand'"]


def test_reference_documents_every_key() -> None:
    reference = (Path(__file__).parents[2] / "docs/config.md").read_text()
    assert '### `driver = "wiegand_reader"`' in reference
    section = reference.split('### `driver = "wiegand_reader"`', 1)[1].split("\n## ", 1)[0]
    undocumented = [key for key in WiegandReaderDevice.model_fields
                    if key not in ("id", "driver", "enabled") and f"| `{key}` |" not in section]
    assert undocumented == []


@pytest.mark.parametrize(("extra", "fmt", "bits"), [
    ("", "hex_line", None), ('format = "binary_stx"\nbits = 34', "binary_stx", 34)])
def test_gateway_builds_the_adapter(extra: str, fmt: str, bits: int | None, tmp_path: Path) -> None:
    async def emit(_: DeviceEvent) -> None: ...

    device = device_of(extra, tmp_path)
    stats = DriverStats()
    adapter = FACTORIES[device.driver](device, emit, stats)
    assert isinstance(adapter, WiegandReaderAdapter)
    assert (adapter.device_id, adapter.port, adapter.format, adapter.bits, adapter.stats) == (
        "side-gate", "/dev/ttyUSB3", fmt, bits, stats)
