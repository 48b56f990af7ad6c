"""The osdp_bus device: it loads with its defaults, its mistakes read as one plain line, keys stay hidden."""
from __future__ import annotations

from pathlib import Path

import pytest

from drivers.base import DeviceEvent, DriverStats
from drivers.osdp import KeyUnavailable, OsdpBusAdapter
from edge_config import ConfigError, OsdpBusDevice, OsdpReader, parse_config
from gateway.drivers import FACTORIES
from tests.osdp.conftest import KEY, OTHER_KEY

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
id = "north-gate"
driver = "osdp_bus"
port = "/dev/ttyUSB4"
"""
READER = """
[[devices.readers]]
id = "{id}"
address = {address}
{key}
"""
BUS_KEYS = "id, driver, enabled, port, baudrate, readers"
READER_KEYS = "id, address, scbk_file, scbk_env, install_mode"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "gate-in.key"
    path.write_text(KEY.hex().upper() + "\n")
    return path


def reader(key: str = 'scbk_file = "gate-in.key"', id: str = "gate-in", address: int = 1) -> str:
    return READER.format(id=id, address=address, key=key)


def problems(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="gw.toml", base_dir=tmp_path)
    return caught.value.problems


def test_defaults_and_keys_from_a_file_and_the_environment(key_file: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_OUT_SCBK", OTHER_KEY.hex())
    text = BASE + reader() + reader('scbk_env = "GATE_OUT_SCBK"\ninstall_mode = true', "gate-out", 2)
    (device,) = parse_config(text, base_dir=tmp_path).devices
    assert isinstance(device, OsdpBusDevice)
    assert (device.port, device.baudrate, device.enabled) == ("/dev/ttyUSB4", 9600, True)
    first, second = device.readers
    assert (first.id, first.address, first.scbk_file, first.install_mode) == ("gate-in", 1, key_file, False)
    assert (second.scbk_env, second.install_mode) == ("GATE_OUT_SCBK", True)
    assert (first.resolved_scbk(), second.resolved_scbk()) == (KEY, OTHER_KEY)
    assert KEY.hex() not in repr(device).lower() and OTHER_KEY.hex() not in repr(device).lower()


def test_gateway_builds_the_adapter(key_file: Path, tmp_path: Path) -> None:
    async def emit(_: DeviceEvent) -> None: ...

    text = BASE.replace("port = ", "baudrate = 38400\nport = ") + reader() + reader(id="gate-out", address=2)
    (device,) = parse_config(text, base_dir=tmp_path).devices
    stats = DriverStats()
    adapter = FACTORIES[device.driver](device, emit, stats)
    assert isinstance(adapter, OsdpBusAdapter)
    assert (adapter.device_id, adapter.port, adapter.baudrate, adapter.stats) == (
        "north-gate", "/dev/ttyUSB4", 38400, stats)
    assert [(r.id, r.address, r.scbk, r.install_mode) for r in adapter.readers] == [
        ("gate-in", 1, KEY, False), ("gate-out", 2, KEY, False)]
    key_file.write_text("not a key")  # the file changed after the config was loaded
    with pytest.raises(KeyUnavailable, match="gate-in.key must hold the key as 32 hex digits") as caught:
        FACTORIES[device.driver](device, emit, stats)
    assert "not a key" not in str(caught.value)


PORT = 'port = "/dev/ttyUSB4"'
MISTAKES = {  # (a change to the bus table, its readers, the one problem reported)
    "no readers": ((PORT, PORT + "\nreaders = []"), "",
                   "devices[0].readers: expected at least one [[devices.readers]] table"),
    "tcp port": ((PORT, 'port = "tcp://10.0.0.9:4001"'), reader(),
                 ("devices[0].port: expected a serial device path (libosdp times an OSDP reader's replies on its "
                  "own line), got 'tcp://10.0.0.9:4001'")),
    "baud rate": ((PORT, PORT + "\nbaudrate = 4800"), reader(),
                  "devices[0].baudrate: expected one of 9600, 19200, 38400, 57600, 115200, 230400, got 4800"),
    "a wiegand key": ((PORT, PORT + '\nformat = "hex_line"'), reader(),
                      f"devices[0].format: unknown key (check the spelling; allowed keys: {BUS_KEYS})"),
    "address": (None, reader(address=127),
                "devices[0].readers[0].address: expected an integer from 0 to 126, got 127"),
    "no key": (None, reader(key=""), "devices[0].readers[0].scbk_file: required: give scbk_file or scbk_env"),
    "two keys": (None, reader(key='scbk_file = "gate-in.key"\nscbk_env = "X"'),
                 "devices[0].readers[0].scbk_env: give either scbk_file or scbk_env, not both"),
    "unset env": (None, reader(key='scbk_env = "NO_SUCH_SCBK_VAR"'),
                  "devices[0].readers[0].scbk_env: environment variable NO_SUCH_SCBK_VAR is not set"),
    "bad env name": (None, reader(key='scbk_env = "1X"'),
                     ("devices[0].readers[0].scbk_env: expected an environment variable name (letters, digits and "
                      "'_', not starting with a digit), got '1X'")),
    "missing file": (None, reader(key='scbk_file = "none.key"'),
                     ("devices[0].readers[0].scbk_file: expected an existing file (looked for {tmp}/none.key), "
                      "got 'none.key'")),
    "repeated address": (None, reader() + reader(id="gate-out"),
                         ("devices[0].readers[1].address: expected a reader address not used by another reader "
                          "(readers[0] has it too), got 1")),
    "repeated id": (None, reader() + reader(address=2),
                    ("devices[0].readers[1].id: expected a reader id not used by another reader (readers[0] has it "
                     "too), got 'gate-in'")),
    "misspelt key": (None, reader(key='scbk_file = "gate-in.key"\ninstal_mode = true'),
                     ("devices[0].readers[0].instal_mode: unknown key (check the spelling; allowed keys: "
                      f"{READER_KEYS})")),
}


@pytest.mark.parametrize(("edit", "readers", "expected"), list(MISTAKES.values()), ids=list(MISTAKES))
def test_each_mistake_reads_as_one_plain_problem(edit: tuple[str, str] | None, readers: str, expected: str,
                                                 key_file: Path, tmp_path: Path) -> None:
    text = (BASE.replace(*edit) if edit else BASE) + readers
    assert problems(text, tmp_path) == [expected.format(tmp=tmp_path)]


@pytest.mark.parametrize(("content", "why"), [
    ("0011", "must hold the key as 32 hex digits"),
    ("zz" * 16, "must hold the key as 32 hex digits"),
    ("303132333435363738393a3b3c3d3e3f", "the well-known default key SCBK-D"),
])
def test_bad_key_contents_are_reported_without_the_key(content: str, why: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gate-in.key").write_text(content)
    (problem,) = problems(BASE + reader(), tmp_path)
    assert problem.startswith("devices[0].readers[0].scbk_file: ") and why in problem
    assert content not in problem
    monkeypatch.setenv("GATE_SCBK", content)
    (problem,) = problems(BASE + reader(key='scbk_env = "GATE_SCBK"'), tmp_path)
    assert problem.startswith("devices[0].readers[0].scbk_env: environment variable GATE_SCBK ") and why in problem
    assert content not in problem


def test_reference_documents_every_key() -> None:
    reference = (Path(__file__).parents[2] / "docs/config.md").read_text()
    assert '### `driver = "osdp_bus"`' in reference
    section = reference.split('### `driver = "osdp_bus"`', 1)[1].split("\n## ", 1)[0]
    keys = [*OsdpBusDevice.model_fields, *OsdpReader.model_fields]
    undocumented = [key for key in keys if key not in ("driver", "enabled") and f"| `{key}` |" not in section]
    assert undocumented == []
