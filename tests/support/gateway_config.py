"""Gateway config files for tests, written as TOML the way an installer would."""
from __future__ import annotations

from pathlib import Path


def gateway_toml(*, broker_url: str, outbox: Path, reader_port: str | None, estate: str = "demo",
                 gateway: str = "gate-1", protocol: str = "5", ack_timeout_s: float = 2.0,
                 heartbeat_s: float = 2.0, synchronous: str = "full", max_events: int = 1_000_000) -> str:
    text = f"""
config_version = "test-1"
[estate]
id = "{estate}"
[gateway]
id = "{gateway}"
[uplink]
broker = "{broker_url}"
protocol = "{protocol}"
ack_timeout_s = {ack_timeout_s}
heartbeat_s = {heartbeat_s}
reconnect_min_s = 0.2
reconnect_max_s = 2.0
[outbox]
path = "{outbox}"
max_events = {max_events}
synchronous = "{synchronous}"
"""
    if reader_port:
        text += f"""
[[devices]]
id = "main-gate-reader"
driver = "ascii_reader"
port = "{reader_port}"
format = "em4100"
"""
    return text


def write_gateway_config(path: Path, **kwargs) -> Path:
    path.write_text(gateway_toml(**kwargs))
    return path
