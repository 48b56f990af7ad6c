"""Built-in Modbus meter models: register maps a meter can name with `model = "..."` instead of listing them.

Each map is data, copied from the maker's published register table. They are examples: verify every
address, type and word order against the manual of the meter actually installed (firmware revisions and
"compatible" meters differ) before billing from it. A config's own [meter_models] may not reuse these names.
"""
from __future__ import annotations

from types import MappingProxyType

from edge_config.meter_bus import MeterModel

_RAW = {
    # Eastron SDM120-Modbus, single-phase DIN-rail meter (ships at 2400 baud 8N1, unit id 1). Input
    # registers (FC04), IEEE 754 float32 sent high word first (ABCD); energies in kWh.
    "eastron-sdm120": {
        "note": "example, verify against the meter's manual: Eastron SDM120-Modbus input registers",
        "registers": [
            {"name": "voltage", "address": 0x0000, "function": "input", "type": "float32", "order": "ABCD",
             "unit": "V"},
            {"name": "current", "address": 0x0006, "function": "input", "type": "float32", "order": "ABCD",
             "unit": "A"},
            {"name": "active_power", "address": 0x000C, "function": "input", "type": "float32", "order": "ABCD",
             "unit": "W"},
            {"name": "import_active_energy", "address": 0x0048, "function": "input", "type": "float32",
             "order": "ABCD", "unit": "kWh"},
            {"name": "export_active_energy", "address": 0x004A, "function": "input", "type": "float32",
             "order": "ABCD", "unit": "kWh"},
            {"name": "total_active_energy", "address": 0x0156, "function": "input", "type": "float32",
             "order": "ABCD", "unit": "kWh"},
        ],
    },
}

BUILTIN_MODELS = MappingProxyType({name: MeterModel.model_validate(raw) for name, raw in _RAW.items()})
"""Built-in models by name."""
