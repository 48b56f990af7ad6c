"""[access], [[doors]] and modbus_io devices in the gateway config: the example loads, and each mistake reads
back as one plain line naming its key."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import edge_config
from edge_config import ConfigError, ModbusIoDevice, load_config, parse_config
from gateway.door_io import LockTarget, lock_coils, lock_target
from tests.access_gateway.support import PASS_KEY

EXAMPLE = Path(edge_config.__file__).parent / "examples" / "gatehouse-doors.toml"
KEY_HEX = PASS_KEY.public_key().public_bytes_raw().hex()
BASE = f"""
[estate]
id = "demo"
[gateway]
id = "gate-1"
[uplink]
broker = "mqtt://127.0.0.1:1883"
[outbox]
path = "outbox.sqlite"
[access]
cache_path = "access.sqlite"
pass_public_key = "{KEY_HEX}"
[[devices]]
id = "reader"
driver = "ascii_reader"
port = "/dev/ttyUSB0"
[[devices]]
id = "qr"
driver = "ascii_reader"
port = "/dev/ttyACM0"
format = "text_line"
[[devices]]
id = "io"
driver = "modbus_io"
port = "tcp://10.0.0.5:502"
inputs = 4
coils = 2
[[doors]]
id = "lobby"
readers = ["reader"]
qr_reader = "qr"
lock = {{modbus = "io", coil = 1}}
contact = {{modbus = "io", input = 3}}
"""


def problems(text: str, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, base_dir=base_dir)
    return caught.value.problems


def test_the_doors_example_loads(tmp_path):
    config = load_config(EXAMPLE)
    assert [door.id for door in config.doors] == ["south-gate-in", "south-gate-out", "block-3-lobby"]
    assert config.access is not None and config.access.public_key is not None
    assert config.access.cache_path == EXAMPLE.parent / "var/south-gate/access.sqlite"
    io = next(d for d in config.devices if d.id == "door-io")
    assert isinstance(io, ModbusIoDevice) and io.tcp_endpoint == ("10.20.0.40", 502)
    assert lock_coils(config.doors) == {"door-io": (0, 1)}
    entry, exit_ = (lock_target(door, config.devices) for door in config.doors[:2])
    assert entry.key == exit_.key, "the two readers of one gate release the same lock"


def test_a_door_gets_its_defaults(tmp_path):
    config = parse_config(BASE, base_dir=tmp_path)
    (door,) = config.doors
    assert (door.unlock_s, door.held_open_s, door.contact.normally, door.name) == (5.0, 30.0, "closed", "")
    assert (config.access.offline_mode, config.access.offline_days) == ("keep_deciding", 7)
    io = config.devices[2]
    assert (io.unit_id, io.poll_ms, io.timeout_ms, io.baudrate, io.tcp_endpoint) == (1, 100, 500, 9600,
                                                                                    ("10.0.0.5", 502))


@pytest.mark.parametrize("written", [
    KEY_HEX,
    base64.b64encode(bytes.fromhex(KEY_HEX)).decode(),
    base64.urlsafe_b64encode(bytes.fromhex(KEY_HEX)).decode(),
])
def test_the_pass_key_may_be_hex_or_base64(tmp_path, written):
    config = parse_config(BASE.replace(KEY_HEX, written), base_dir=tmp_path)
    assert config.access.public_key.public_bytes_raw().hex() == KEY_HEX


def test_the_pass_key_may_be_a_pem_file(tmp_path):
    pem = PASS_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pass.pem").write_bytes(pem)
    config = parse_config(BASE.replace(f'pass_public_key = "{KEY_HEX}"', 'pass_public_key_file = "pass.pem"'),
                          base_dir=tmp_path)
    assert config.access.public_key.public_bytes_raw().hex() == KEY_HEX


def test_an_osdp_lock_names_the_bus_and_its_reader(tmp_path):
    (tmp_path / "scbk").write_text("00112233445566778899aabbccddeeff\n")
    text = BASE + """
[[devices]]
id = "osdp"
driver = "osdp_bus"
port = "/dev/ttyUSB5"
readers = [{id = "back-door", address = 1, scbk_file = "scbk"}]
[[doors]]
id = "back"
readers = ["osdp/back-door"]
lock = {osdp = "osdp", output = 0}
"""
    config = parse_config(text, base_dir=tmp_path)
    assert lock_target(config.doors[1], config.devices) == LockTarget("osdp", "osdp", 0, "back-door")


MISTAKES = {
    "missing access": ({'[access]\ncache_path = "access.sqlite"\npass_public_key = "' + KEY_HEX + '"\n': ""},
                       "access: [access] (cache_path at least) is required when [[doors]] are configured"),
    "bad key": ({f'"{KEY_HEX}"': '"not-a-key"'},
                "access.pass_public_key: expected an Ed25519 public key: 64 hex digits or 44 base64 characters "
                "(32 bytes), got 'not-a-key'"),
    "offline mode": ({'cache_path = "access.sqlite"': 'cache_path = "access.sqlite"\noffline_mode = "panic"'},
                     "access.offline_mode: expected one of 'keep_deciding', 'staff_only', 'deny_all', got 'panic'"),
    "unknown reader": ({'readers = ["reader"]': 'readers = ["front"]'},
                       "doors[0].readers[0]: expected the id of a card reader in [[devices]] (qr, reader), "
                       "got 'front'"),
    "qr as a card reader": ({'readers = ["reader"]': 'readers = ["qr"]'},
                            "doors[0].readers[0]: expected a card reader; a text_line reader is a QR reader (give it "
                            "as qr_reader), got 'qr'"),
    "qr not text": ({'qr_reader = "qr"': 'qr_reader = "reader"'},
                    "doors[0].qr_reader: expected an ascii_reader with format = \"text_line\" (device reader has "
                    "format 'em4100'), got 'reader'"),
    "pd on a serial reader": ({'readers = ["reader"]': 'readers = ["reader/left"]'},
                              "doors[0].readers[0]: expected a device id alone (reader is not an OSDP bus, it has no "
                              "readers to name), got 'reader/left'"),
    "coil out of range": ({"coil = 1": "coil = 2"},
                          "doors[0].lock.coil: expected a coil of io (0 to 1; it has coils = 2), got 2"),
    "lock on a reader": ({'lock = {modbus = "io"': 'lock = {modbus = "reader"'},
                         "doors[0].lock.modbus: expected the id of a modbus_io device in [[devices]] (io), "
                         "got 'reader'"),
    "half a lock": ({'lock = {modbus = "io", coil = 1}': 'lock = {modbus = "io"}'},
                    "doors[0].lock.coil: required with modbus = ... (modbus and coil go together)"),
    "two locks": ({"coil = 1}": "coil = 1, output = 2}"},
                  "doors[0].lock.output: a lock is either {modbus, coil} or {osdp, output}, not both"),
    "input out of range": ({"input = 3": "input = 4"},
                           "doors[0].contact.input: expected a discrete input of io (0 to 3; it has inputs = 4), "
                           "got 4"),
    "contact wiring": ({"input = 3}": 'input = 3, normally = "shut"}'},
                       "doors[0].contact.normally: expected one of 'closed', 'open', got 'shut'"),
    "unlock too long": ({'qr_reader = "qr"': 'qr_reader = "qr"\nunlock_s = 90'},
                        "doors[0].unlock_s: expected a number greater than 0 and at most 60, got 90"),
    "unknown door key": ({'qr_reader = "qr"': 'qr_reader = "qr"\nlock_time = 5'},
                         "doors[0].lock_time: unknown key (check the spelling; allowed keys: id, name, readers, "
                         "qr_reader, lock, contact, unlock_s, held_open_s)"),
    "io poll too fast": ({"coils = 2": "coils = 2\npoll_ms = 5"},
                         "devices[2].poll_ms: expected an integer from 20 to 10000, got 5"),
    "io backoff": ({"coils = 2": "coils = 2\nretry_s = 10.0\nbackoff_max_s = 5.0"},
                   "devices[2].backoff_max_s: expected a number >= retry_s (10.0), got 5.0"),
}


@pytest.mark.parametrize(("edits", "expected"), MISTAKES.values(), ids=MISTAKES.keys())
def test_each_mistake_reads_as_one_plain_problem(tmp_path, edits, expected):
    text = BASE
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    assert problems(text, tmp_path) == [expected]


def test_doors_that_clash_are_each_reported(tmp_path):
    text = BASE + """
[[doors]]
id = "lobby"
readers = ["reader"]
qr_reader = "qr"
lock = {modbus = "io", coil = 1}
contact = {modbus = "io", input = 3}
"""
    assert problems(text, tmp_path) == [
        "doors[1].id: expected a door id not used by another door (doors[0] has it too), got 'lobby'",
        "doors[1].readers[0]: expected a reader no other door uses (doors[0] has reader): a tap opens one door, "
        "got 'reader'",
        "doors[1].qr_reader: expected a QR reader no other door uses, got 'qr'",
        "doors[1].contact.input: expected a contact no other door uses (doors[0] has it), got 3",
    ]


def test_a_qr_reader_needs_the_pass_key(tmp_path):
    text = BASE.replace(f'pass_public_key = "{KEY_HEX}"\n', "")
    assert problems(text, tmp_path) == [
        "doors[0].qr_reader: needs central's visitor-pass key: set access.pass_public_key or "
        "access.pass_public_key_file"]
