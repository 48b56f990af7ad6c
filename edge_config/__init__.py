"""Per-estate gateway config: one TOML file, validated as a whole into typed, frozen models."""
from edge_config.loader import ConfigError, load_config, parse_config
from edge_config.model import (
    AsciiReaderDevice,
    DeviceConfig,
    EstateSection,
    GatewayConfig,
    GatewaySection,
    OutboxConfig,
    TlsConfig,
    UplinkConfig,
    WiegandReaderDevice,
)

__all__ = [
    "AsciiReaderDevice",
    "ConfigError",
    "DeviceConfig",
    "EstateSection",
    "GatewayConfig",
    "GatewaySection",
    "OutboxConfig",
    "TlsConfig",
    "UplinkConfig",
    "WiegandReaderDevice",
    "load_config",
    "parse_config",
]
