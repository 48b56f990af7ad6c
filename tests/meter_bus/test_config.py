"""Meter bus config: the example loads and builds adapters, defaults by protocol, and every mistake named."""
from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

import edge_config
from drivers.base import DriverStats
from drivers.cjt188 import METER_TYPES
from drivers.meter_bus import DLT645_READABLE, Cjt188Reader, Dlt645Reader, ModbusReader, rtu_gap
from drivers.modbus_meter import ORDERS, TYPES
from edge_config import BUILTIN_MODELS, ConfigError, MeterBusDevice, MeterEntry, MeterModel, RegisterEntry, parse_config
from edge_config import meter_bus as config
from gateway.drivers import FACTORIES

EXAMPLE = Path(edge_config.__file__).parent / "examples" / "meter-bus.toml"
HEAD = """
[estate]
id = "demo"
[gateway]
id = "gate-1"
[uplink]
broker = "mqtt://127.0.0.1:1883"
[outbox]
path = "var/outbox.sqlite"
"""


def problems(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD + text, source="gw.toml", base_dir=tmp_path)
    return caught.value.problems


def bus(protocol: str, meters: str, extra: str = "", port: str = "/dev/ttyUSB0") -> str:
    return (f'[[devices]]\nid = "bus-1"\ndriver = "meter_bus"\nport = "{port}"\nprotocol = "{protocol}"\n{extra}\n'
            + meters)


def test_the_example_loads_and_every_bus_gets_an_adapter() -> None:
    loaded = edge_config.load_config(EXAMPLE)
    buses = [device for device in loaded.devices if isinstance(device, MeterBusDevice)]
    assert [b.protocol for b in buses] == ["dlt645", "cjt188", "modbus_rtu", "modbus_tcp"]
    power, water, shops, heat = buses
    assert (power.line_baudrate, power.line_parity, power.line_gap_ms) == (2400, "E", pytest.approx(16.04, abs=0.01))
    assert (power.response_ms_of(power.meters[0]), power.line_turnaround_ms) == (500.0, 100.0)
    assert water.tcp_endpoint == ("10.20.0.41", 4001) and water.response_ms_of(water.meters[0]) == 1500.0
    assert [e.name for e in shops.meters[0].register_map] == ["total_active_energy"]
    assert [e.name for e in shops.meters[1].register_map] == ["volume", "flow_rate"]
    assert shops.period_of(shops.meters[1]) == 300.0 and shops.period_of(shops.meters[0]) == 60.0
    assert (heat.line_baudrate, heat.line_gap_ms, heat.line_turnaround_ms) == (None, 0.0, 0.0)

    async def emit(event: object) -> None:
        return None

    adapters = [FACTORIES["meter_bus"](device, emit, DriverStats()) for device in buses]
    readers = [meter.reader for adapter in adapters for meter in adapter.meters.values()]
    assert [type(r) for r in readers] == [Dlt645Reader] * 2 + [Cjt188Reader] * 2 + [ModbusReader] * 3
    assert readers[0].read_clock and readers[1].dis == (0x00010000, 0x00000000)
    assert readers[3].meter_type == 0x11 and readers[3].di_order == "little"
    assert adapters[2].line_spec.gap_s == pytest.approx(rtu_gap(2400))
    assert adapters[3].line_spec.baudrate is None


def test_config_vocabularies_match_the_codecs() -> None:
    assert set(get_args(config.Dlt645Register)) == set(DLT645_READABLE)
    assert set(get_args(config.RegisterType)) == set(TYPES)
    assert config.WORDS == {name: wire.words for name, wire in TYPES.items()}
    assert set(get_args(RegisterEntry.model_fields["order"].annotation)) == set(ORDERS)
    unsupported = {"heat", "cooling"}  # their 901FH layout is not read yet: the config refuses them
    assert {code: name for name, code in config.CJT188_METER_TYPES.items()} == {
        code: name for code, name in METER_TYPES.items() if name not in unsupported}
    assert unsupported <= set(METER_TYPES.values())
    assert [config.rtu_gap_ms(b) for b in (1200, 9600, 38400)] == [pytest.approx(rtu_gap(b) * 1000)
                                                                  for b in (1200, 9600, 38400)]


def test_the_built_in_model_is_marked_as_an_example() -> None:
    model = BUILTIN_MODELS["eastron-sdm120"]
    assert "verify against the meter's manual" in model.note
    assert {e.name: (e.function, e.address, e.type, e.order, e.unit) for e in model.registers}["total_active_energy"] \
        == ("input", 0x0156, "float32", "ABCD", "kWh")


CASES = {
    "dlt645 address": (bus("dlt645", '[[devices.meters]]\nid = "m1"\naddress = "12345"\n'),
                       ["devices[0].meters[0].address: expected 12 digits as printed on the meter (a byte may be AA), "
                        "got '12345'"]),
    "key of another protocol": (bus("dlt645", '[[devices.meters]]\nid = "m1"\naddress = "000000000001"\nunit_id = 1\n'),
                                ["devices[0].meters[0].unit_id: is not used with protocol dlt645"]),
    "unknown DI name": (bus("dlt645", '[[devices.meters]]\nid = "m1"\naddress = "000000000001"\nread = ["kwh"]\n'),
                        ["devices[0].meters[0].read[0]: expected one of combined_active_energy, forward_active_energy, "
                         "voltage_a, current_a, active_power, got 'kwh'"]),
    "wildcard on a shared line": (
        bus("cjt188", '[[devices.meters]]\nid = "w1"\naddress = "AAAAAAAAAAAAAA"\n'
                      '[[devices.meters]]\nid = "w2"\naddress = "00000000000002"\n'),
        ["devices[0].meters[0].address: expected no AA wildcard: other meters share the line, got 'AAAAAAAAAAAAAA'"]),
    "repeated address": (
        bus("dlt645", '[[devices.meters]]\nid = "m1"\naddress = "000000000001"\n'
                      '[[devices.meters]]\nid = "m2"\naddress = "000000000001"\n'),
        ["devices[0].meters[1].address: expected an address not used by another meter on this bus, "
         "got '000000000001'"]),
    "modbus without a map": (bus("modbus_rtu", '[[devices.meters]]\nid = "m1"\nunit_id = 1\n'),
                             ["devices[0].meters[0].registers: required when the meter names no model"]),
    "unknown model": (bus("modbus_rtu", '[[devices.meters]]\nid = "m1"\nunit_id = 1\nmodel = "sdm999"\n'),
                      ["devices[0].meters[0].model: expected a model from [meter_models] or a built-in one "
                       "(eastron-sdm120), got 'sdm999'"]),
    "read outside the map": (
        bus("modbus_rtu", '[[devices.meters]]\nid = "m1"\nunit_id = 1\nmodel = "eastron-sdm120"\nread = ["kwh"]\n'),
        ["devices[0].meters[0].read[0]: expected a register of the meter's map (active_power, current, "
         "export_active_energy, import_active_energy, total_active_energy, voltage), got 'kwh'"]),
    "rtu gap below 3.5 characters": (
        bus("modbus_rtu", '[[devices.meters]]\nid = "m1"\nunit_id = 1\nmodel = "eastron-sdm120"\n', "gap_ms = 1.0"),
        ["devices[0].gap_ms: expected at least 4.01 ms (3.5 characters at 9600 baud), got 1.0"]),
    "serial keys on modbus tcp": (
        bus("modbus_tcp", '[[devices.meters]]\nid = "m1"\nunit_id = 0\nmodel = "eastron-sdm120"\n', "parity = \"E\"",
            port="/dev/ttyUSB0"),
        ["devices[0].port: expected tcp://host:port for protocol modbus_tcp, got '/dev/ttyUSB0'",
         "devices[0].parity: is not used with protocol modbus_tcp (no serial line)"]),
    "heat meter": (bus("cjt188", '[[devices.meters]]\nid = "h1"\naddress = "00000000000001"\nmeter_type = "heat"\n'),
                   ["devices[0].meters[0].meter_type: expected one of 'cold_water', 'hot_water', 'drinking_water', "
                    "'reclaimed_water', 'gas', 'custom', got 'heat'"]),
    "no meters": (bus("dlt645", "meters = []\n"),
                  ["devices[0].meters: a meter bus needs at least one [[devices.meters]]"]),
    "bad zone": (bus("dlt645", '[[devices.meters]]\nid = "m1"\naddress = "000000000001"\n',
                     'meter_timezone = "Beijing"'),
                 ["devices[0].meter_timezone: expected an IANA time zone name, like \"Asia/Shanghai\", got 'Beijing'"]),
    "model mistakes": (
        '[meter_models.eastron-sdm120]\nregisters = [{ name = "v", address = 0, type = "uint16", order = "ABCD" }]\n'
        '[meter_models.acme]\nregisters = [{ name = "v", address = 65535, type = "uint32", order = "ABCD", '
        'scale = "x" }, { name = "v", address = 0, type = "uint16", order = "AB" }]\n',
        ["meter_models.acme.registers[0].scale: expected a number, or a decimal number as a string, got 'x'",
         "meter_models.acme.registers[1].order: expected one of 'ABCD', 'CDAB', 'BADC', 'DCBA', got 'AB'"]),
    "built-in name taken": (
        '[meter_models.eastron-sdm120]\nregisters = [{ name = "v", address = 0, type = "uint16", order = "ABCD" }]\n',
        ["meter_models.eastron-sdm120: is the name of a built-in model; choose another name"]),
    "meter id shared across buses": (
        bus("dlt645", '[[devices.meters]]\nid = "m1"\naddress = "000000000001"\n') + "\n"
        + bus("dlt645", '[[devices.meters]]\nid = "m1"\naddress = "000000000001"\n').replace("bus-1", "bus-2"),
        ["devices[1].meters[0].id: expected a meter id used by no other device or meter of this gateway (central "
         "tells meters apart by it), got 'm1'"]),
}


@pytest.mark.parametrize("text, expected", CASES.values(), ids=CASES.keys())
def test_each_mistake_reads_as_one_plain_problem(text: str, expected: list[str], tmp_path: Path) -> None:
    assert problems(text, tmp_path) == expected


def test_a_config_model_and_own_registers_make_one_map(tmp_path: Path) -> None:
    text = ('[meter_models.acme]\nmax_gap = 4\nregisters = [{ name = "volume", address = 0, type = "uint32", '
            'order = "CDAB", scale = 0.001, unit = "m3" }]\n'
            + bus("modbus_rtu", '[[devices.meters]]\nid = "m1"\nunit_id = 1\nmodel = "acme"\nregisters = [{ name = '
                  '"flow", address = 4, type = "uint16", order = "ABCD", scale = "0.01" }]\n'))
    loaded = parse_config(HEAD + text, base_dir=tmp_path)
    (meter,) = loaded.devices[0].meters
    assert [(e.name, str(e.scale)) for e in meter.register_map] == [("volume", "0.001"), ("flow", "0.01")]
    assert meter.read_gap == 4


def test_an_unresolved_model_is_refused_not_guessed() -> None:
    meter = MeterEntry(id="m1", unit_id=1, model="acme")
    with pytest.raises(LookupError, match="has not been resolved"):
        meter.register_map  # noqa: B018
    assert MeterModel.model_validate({"registers": [{"name": "a", "address": 1, "type": "int16", "order": "ABCD"}]})


def test_the_reference_documents_every_meter_bus_key() -> None:
    reference = (Path(__file__).parents[2] / "docs/config.md").read_text()
    keys = {key for model in (MeterBusDevice, MeterEntry, MeterModel, RegisterEntry) for key in model.model_fields}
    assert sorted(key for key in keys if f"| `{key}` |" not in reference) == []
    assert "meter_models]" in reference and 'driver = "meter_bus"' in reference
