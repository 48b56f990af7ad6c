"""Loading gateway configs: the examples load, and every kind of mistake reads back as one plain line."""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

import edge_config
from edge_config import AsciiReaderDevice, ConfigError, GatewayConfig, load_config, parse_config

EXAMPLES = Path(edge_config.__file__).parent / "examples"
DRIVERS = ", ".join(repr(get_args(member.model_fields["driver"].annotation)[0])
                    for member in get_args(get_args(edge_config.DeviceConfig)[0]))
"""Every driver name, in the order the config error lists them (one per device model)."""
BROKER = 'broker = "mqtt://127.0.0.1:1883"'
TLS = '\n[uplink.tls]\nca_file = "tls/ca.pem"\n'
BASE = f"""
[estate]
id = "demo"
[gateway]
id = "gate-1"
[uplink]
{BROKER}
[outbox]
path = "var/outbox.sqlite"
[[devices]]
id = "reader-0"
driver = "ascii_reader"
port = "/dev/ttyUSB0"
[[devices]]
id = "reader-1"
driver = "ascii_reader"
port = "/dev/ttyUSB1"
[[devices]]
id = "reader-2"
driver = "ascii_reader"
port = "/dev/ttyUSB2"
"""
MQTTS = 'broker = "mqtts://broker.example"'
ID_RULE = "a topic-safe id: 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit"
UPLINK_KEYS = (
    "broker, protocol, client_id, username, password, password_file, keepalive_s, batch_max_events, "
    "batch_max_bytes, linger_ms, ack_timeout_s, heartbeat_s, reconnect_min_s, reconnect_max_s, tls"
)


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    """A config directory holding the files the TLS and password cases point at."""
    for name in ("tls/ca.pem", "tls/client.crt", "tls/client.key", "secrets/mqtt-password"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    return tmp_path


def edited(edits: dict[str, str]) -> str:
    text = BASE
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def problems_of(text: str, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="gw.toml", base_dir=base_dir)
    return caught.value.problems


def test_demo_example_loads() -> None:
    config = load_config(EXAMPLES / "demo.toml")
    assert (config.estate.id, config.gateway.id) == ("demo", "gate-1")
    assert (config.uplink.host, config.uplink.port, config.uplink.use_tls) == ("127.0.0.1", 1883, False)
    assert config.uplink.protocol == "3.1.1"
    assert config.uplink.client_id == "estatelink-gw-demo-gate-1"
    assert config.outbox.path == EXAMPLES / "var/gate-1/outbox.sqlite"
    (reader,) = config.devices
    assert isinstance(reader, AsciiReaderDevice)
    assert (reader.id, reader.port, reader.format, reader.tcp_endpoint) == (
        "main-gate-reader", "/tmp/estatelink-demo-reader", "em4100", None)


def test_gatehouse_tls_example_loads_next_to_its_files(tmp_path: Path) -> None:
    config_file = tmp_path / "gateway.toml"
    shutil.copy(EXAMPLES / "gatehouse-tls.toml", config_file)
    for name in ("tls/ca.pem", "tls/north-gate.crt", "tls/north-gate.key"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("pem")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/mqtt-password").write_text("s3cret\n")
    config = load_config(config_file)
    assert (config.uplink.host, config.uplink.port, config.uplink.use_tls) == ("mqtt.estatelink.example", 8883, True)
    assert config.uplink.tls is not None and config.uplink.tls.key_file == tmp_path / "tls/north-gate.key"
    assert config.uplink.resolved_password() == "s3cret"
    assert [device.tcp_endpoint for device in config.devices] == [None, ("10.20.0.31", 4001)]
    assert config.config_version == "2026-11-27.1"


def test_gatehouse_tls_example_in_place_lacks_only_its_files() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(EXAMPLES / "gatehouse-tls.toml")
    assert len(caught.value.problems) == 4
    assert all("expected an existing file" in problem for problem in caught.value.problems)


CASES = {
    "missing key": ({BROKER + "\n": ""}, ["uplink.broker: required key is missing"]),
    "missing table": ({'[gateway]\nid = "gate-1"\n': ""}, ["gateway: required key is missing"]),
    "unknown key": (
        {BROKER: BROKER + '\nbrokr = "x"'},
        [f"uplink.brokr: unknown key (check the spelling; allowed keys: {UPLINK_KEYS})"],
    ),
    "unknown device key": (
        {'port = "/dev/ttyUSB1"': 'port = "/dev/ttyUSB1"\nbaud = 9600'},
        ["devices[1].baud: unknown key (check the spelling; allowed keys: "
         "id, driver, enabled, port, baudrate, format, min_digits, max_digits)"],
    ),
    "wrong type": ({BROKER: BROKER + '\nkeepalive_s = "30"'}, ["uplink.keepalive_s: expected an integer, got '30'"]),
    "bool is not an integer": (
        {BROKER: BROKER + "\nlinger_ms = true"}, ["uplink.linger_ms: expected an integer, got True"]),
    "float for an integer": (
        {BROKER: BROKER + "\nkeepalive_s = 30.0"}, ["uplink.keepalive_s: expected an integer, got 30.0"]),
    "wrong type for a string": ({'id = "demo"': "id = 7"}, ["estate.id: expected a string, got 7"]),
    "integer out of range": (
        {'path = "var/outbox.sqlite"': 'path = "var/outbox.sqlite"\nmax_events = 10'},
        ["outbox.max_events: expected an integer from 1000 to 100000000, got 10"],
    ),
    "float out of range": (
        {BROKER: BROKER + "\nack_timeout_s = 0"},
        ["uplink.ack_timeout_s: expected a number greater than 0 and at most 600, got 0"],
    ),
    "not one of the choices": (
        {BROKER: BROKER + '\nprotocol = "3"'}, ["uplink.protocol: expected one of '5', '3.1.1', got '3'"]),
    "bad id characters": (
        {'id = "demo"': 'id = "Demo/1"'},
        ["estate.id: expected a topic-safe id: 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit, "
         "got 'Demo/1'"],
    ),
    "wildcard in id": (
        {'id = "gate-1"': 'id = "gate+"'},
        [f"gateway.id: expected {ID_RULE}, got 'gate+'"],
    ),
    "empty port": (
        {'port = "/dev/ttyUSB2"': 'port = ""'},
        ["devices[2].port: expected a serial device path or tcp://host:port, got ''"],
    ),
    "relative serial path": (
        {'port = "/dev/ttyUSB0"': 'port = "ttyUSB0"'},
        ["devices[0].port: expected a serial device path or tcp://host:port, got 'ttyUSB0'"],
    ),
    "tcp port out of range": (
        {'port = "/dev/ttyUSB1"': 'port = "tcp://10.0.0.5:70000"'},
        ["devices[1].port: expected a serial device path or tcp://host:port with a port from 1 to 65535, "
         "got 'tcp://10.0.0.5:70000'"],
    ),
    "tcp without port": (
        {'port = "/dev/ttyUSB1"': 'port = "tcp://10.0.0.5"'},
        ["devices[1].port: expected a serial device path or tcp://host:port with a port from 1 to 65535, "
         "got 'tcp://10.0.0.5'"],
    ),
    "unsupported baudrate": (
        {'port = "/dev/ttyUSB0"': 'port = "/dev/ttyUSB0"\nbaudrate = 9601'},
        ["devices[0].baudrate: expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, got 9601"],
    ),
    "duplicate device ids": (
        {'id = "reader-2"': 'id = "reader-0"'},
        ["devices[2].id: expected an id not used by another device (devices[0] has it too), got 'reader-0'"],
    ),
    "unknown driver": (
        {'driver = "ascii_reader"': 'driver = "wiegand_magic"'},
        [f"devices[0].driver: expected one of {DRIVERS}, got 'wiegand_magic'"],
    ),
    "missing driver": (
        {'driver = "ascii_reader"\n': ""}, [f"devices[0].driver: required key is missing (one of {DRIVERS})"]),
    "digits reversed": (
        {'port = "/dev/ttyUSB0"': 'port = "/dev/ttyUSB0"\nformat = "decimal_line"\nmin_digits = 9\nmax_digits = 3'},
        ["devices[0].max_digits: expected an integer >= min_digits (9), got 3"],
    ),
    "bad broker scheme": (
        {BROKER: 'broker = "http://127.0.0.1:1883"'},
        ["uplink.broker: expected mqtt://host[:port] or mqtts://host[:port] (port 1 to 65535), "
         "got 'http://127.0.0.1:1883'"],
    ),
    "broker port out of range": (
        {BROKER: 'broker = "mqtt://127.0.0.1:99999"'},
        ["uplink.broker: expected mqtt://host[:port] or mqtts://host[:port] (port 1 to 65535), "
         "got 'mqtt://127.0.0.1:99999'"],
    ),
    "TLS files with mqtt://": (
        {BROKER: BROKER + TLS},
        ["uplink.tls: TLS files given but uplink.broker is mqtt://127.0.0.1:1883; use mqtts://"],
    ),
    "mqtts:// without tls": (
        {BROKER: MQTTS},
        ["uplink.tls: required when uplink.broker is mqtts:// (add an [uplink.tls] table with ca_file)"],
    ),
    "missing TLS file": (
        {BROKER: MQTTS + TLS.replace("tls/ca.pem", "tls/other-ca.pem")},
        ["uplink.tls.ca_file: expected an existing file (looked for {base}/tls/other-ca.pem), got 'tls/other-ca.pem'"],
    ),
    "TLS file is a directory": (
        {BROKER: MQTTS + TLS.replace("tls/ca.pem", "tls")},
        ["uplink.tls.ca_file: expected a regular file ({base}/tls is not one), got 'tls'"],
    ),
    "client cert without key": (
        {BROKER: MQTTS + TLS + 'cert_file = "tls/client.crt"'},
        ["uplink.tls.key_file: required when cert_file is given"],
    ),
    "password and password_file": (
        {BROKER: BROKER + '\nusername = "gw"\npassword = "pw"\npassword_file = "secrets/mqtt-password"'},
        ["uplink.password_file: give either password or password_file, not both"],
    ),
    "password without username": (
        {BROKER: BROKER + '\npassword = "pw"'}, ["uplink.username: required when a password is given"]),
    "reconnect_max below min": (
        {BROKER: BROKER + "\nreconnect_min_s = 5.0\nreconnect_max_s = 1.0"},
        ["uplink.reconnect_max_s: expected a number >= reconnect_min_s (5.0), got 1.0"],
    ),
    "outbox path empty": (
        {'path = "var/outbox.sqlite"': 'path = ""'}, ["outbox.path: expected a non-empty path string, got ''"]),
    "outbox path is a directory": (
        {'path = "var/outbox.sqlite"': 'path = "tls"'},
        ["outbox.path: expected a file path ({base}/tls is a directory), got 'tls'"],
    ),
    "table expected": (
        {'[gateway]\nid = "gate-1"\n': "", "[estate]": 'gateway = "gate-1"\n[estate]'},
        ["gateway: expected a table, got 'gate-1'"],
    ),
}


@pytest.mark.parametrize(("edits", "expected"), list(CASES.values()), ids=list(CASES))
def test_each_mistake_reads_as_one_plain_problem(edits: dict[str, str], expected: list[str], base_dir: Path) -> None:
    assert problems_of(edited(edits), base_dir) == [line.replace("{base}", str(base_dir)) for line in expected]


def test_every_problem_in_a_file_is_reported_at_once(base_dir: Path) -> None:
    text = edited({
        'id = "demo"': 'id = "Demo"',
        BROKER: BROKER + '\nkeepalive_s = 1\nbrokr = "x"' + TLS,
        'port = "/dev/ttyUSB1"': 'port = ""',
        'id = "reader-2"': 'id = "reader-0"',
        'path = "var/outbox.sqlite"': 'path = "var/outbox.sqlite"\nsynchronous = "off"',
    })
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="gw.toml", base_dir=base_dir)
    problems = caught.value.problems
    assert [problem.split(":")[0] for problem in problems] == [
        "estate.id", "uplink.keepalive_s", "uplink.tls", "uplink.brokr", "outbox.synchronous",
        "devices[1].port", "devices[2].id",
    ]
    assert str(caught.value) == "gw.toml: config has 7 problem(s):\n  " + "\n  ".join(problems)


def test_relative_paths_resolve_against_the_config_directory(base_dir: Path, tmp_path_factory, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    config_file = base_dir / "gateway.toml"
    config_file.write_text(edited({
        BROKER: MQTTS + '\nusername = "gw"\npassword_file = "secrets/mqtt-password"' + TLS,
    }))
    config = load_config(config_file)
    assert config.outbox.path == base_dir / "var/outbox.sqlite"
    assert config.uplink.password_file == base_dir / "secrets/mqtt-password"
    assert config.uplink.tls is not None and config.uplink.tls.ca_file == base_dir / "tls/ca.pem"
    assert all(path.is_absolute() for path in (config.outbox.path, config.uplink.tls.ca_file))


def test_relative_config_path_gives_absolute_paths(base_dir: Path, monkeypatch) -> None:
    monkeypatch.chdir(base_dir)
    (base_dir / "gateway.toml").write_text(BASE)
    assert load_config("gateway.toml").outbox.path == base_dir / "var/outbox.sqlite"


def test_password_never_shows(base_dir: Path) -> None:
    secret = "hunter2-very-secret"
    text = edited({BROKER: BROKER + f'\nusername = "gw"\npassword = "{secret}"'})
    config = parse_config(text, base_dir=base_dir)
    assert config.uplink.resolved_password() == secret
    assert secret not in repr(config) and secret not in str(config)
    with pytest.raises(ConfigError) as caught:
        parse_config(text.replace('id = "demo"', 'id = "Demo"'), base_dir=base_dir)
    assert secret not in str(caught.value)
    assert caught.value.__context__ is None  # no chained pydantic error that would echo the input
    for wrong in (f"password = [\"{secret}\"]", f'password = "{secret}"\npassword_file = "secrets/mqtt-password"'):
        with pytest.raises(ConfigError) as caught:
            parse_config(edited({BROKER: BROKER + f'\nusername = "gw"\n{wrong}'}), base_dir=base_dir)
        assert secret not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config(edited({BROKER: f'broker = "mqtt://gw:{secret}@127.0.0.1:99999"'}), base_dir=base_dir)
    assert caught.value.problems == [
        "uplink.broker: credentials do not belong in the broker URL; use username and password_file"]


@pytest.mark.parametrize(("content", "expected"), [("pw\n", "pw"), ("pw", "pw"), ("pw\r\n", "pw"), ("pw\n\n", "pw\n")])
def test_password_file_loses_one_trailing_newline(base_dir: Path, content: str, expected: str) -> None:
    (base_dir / "secrets/mqtt-password").write_text(content, newline="")
    text = edited({BROKER: BROKER + '\nusername = "gw"\npassword_file = "secrets/mqtt-password"'})
    assert parse_config(text, base_dir=base_dir).uplink.resolved_password() == expected


def test_defaults(base_dir: Path) -> None:
    config = parse_config(BASE, base_dir=base_dir)
    assert [device.id for device in config.devices] == ["reader-0", "reader-1", "reader-2"]
    assert (config.config_version, config.estate.name, config.outbox.synchronous) == ("unversioned", None, "full")
    uplink = parse_config(edited({BROKER: MQTTS + TLS}), base_dir=base_dir).uplink
    assert (uplink.port, uplink.use_tls, uplink.protocol) == (8883, True, "5")
    assert uplink.client_id == "estatelink-gw-demo-gate-1"
    assert uplink.resolved_password() is None and uplink.username is None
    explicit = parse_config(edited({BROKER: BROKER + '\nclient_id = "gw-x"\nusername = ""'}), base_dir=base_dir).uplink
    assert (explicit.client_id, explicit.username) == ("gw-x", None)


def test_config_is_frozen(base_dir: Path) -> None:
    config = parse_config(BASE, base_dir=base_dir)
    with pytest.raises(ValidationError):
        config.uplink.keepalive_s = 60  # type: ignore[misc]


def test_toml_syntax_error_names_the_line(base_dir: Path) -> None:
    problems = problems_of(BASE.replace('id = "gate-1"', 'id = "gate-1'), base_dir)
    assert problems == ["line 5, column 13: invalid TOML: illegal character '\\n'"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert str(caught.value) == (
        f"{tmp_path / 'nope.toml'}: config has 1 problem(s):\n  cannot read the file: No such file or directory"
    )


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "gw.toml").write_bytes(b'[estate]\nid = "d\xe9mo"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "gw.toml")
    assert caught.value.problems == ["byte 16: expected UTF-8 text, as TOML requires"]


def test_config_error_survives_pickling() -> None:
    error = ConfigError("gw.toml", ["a: b, got 1"])
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.source, copy.problems, str(copy)) == (error.source, error.problems, str(error))


def test_reference_documents_every_key() -> None:
    reference = (Path(__file__).parents[2] / "docs/config.md").read_text()
    models = [GatewayConfig, *(field.annotation for field in GatewayConfig.model_fields.values())]
    models += [edge_config.TlsConfig, AsciiReaderDevice]
    keys = {key for model in models if isinstance(model, type) for key in getattr(model, "model_fields", {})}
    documented = {key for key in keys if f"| `{key}` |" in reference or f"{key}]" in reference}
    assert sorted(keys - documented) == []
