"""Central's settings: an optional TOML file, validated once into typed objects; unknown keys are errors."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from central.notify.config import NotifyConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class DatabaseConfig(_Section):
    url: str = "sqlite:///var/central.sqlite"
    """sqlite:///relative/or/absolute/path or postgresql://user@host/db."""


class BrokerConfig(_Section):
    url: str | None = None
    """mqtt://host:port or mqtts://host:port; unset means an embedded amqtt broker on 127.0.0.1."""
    embedded_port: int = Field(1883, ge=0, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str = "estatelink-central"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    shared_group: str | None = None
    """Subscribe through $share/{group}/... so several central processes split the uplink."""

    @model_validator(mode="after")
    def _tls_only_with_mqtts(self) -> "BrokerConfig":
        scheme = urlsplit(self.url).scheme if self.url else "mqtt"
        if scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker.url must start with mqtt:// or mqtts://, got {self.url!r}")
        if scheme == "mqtt" and (self.ca_file or self.cert_file):
            raise ValueError("TLS files given but broker.url is mqtt://; use mqtts:// (no plaintext fallback)")
        return self

    @property
    def embedded(self) -> bool:
        return self.url is None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1" if self.url else "127.0.0.1"

    @property
    def port(self) -> int:
        if self.url is None:
            return self.embedded_port
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def use_tls(self) -> bool:
        return bool(self.url) and urlsplit(self.url).scheme == "mqtts"


class IngestConfig(_Section):
    gap_grace_s: float = Field(3.0, gt=0)
    """How long a sequence gap may stand before central asks the gateway to replay it."""
    max_messages_per_commit: int = Field(200, ge=1)
    dead_letter_payload_bytes: int = Field(65536, ge=256)


class CentralConfig(_Section):
    http: HttpConfig = HttpConfig()
    database: DatabaseConfig = DatabaseConfig()
    broker: BrokerConfig = BrokerConfig()
    ingest: IngestConfig = IngestConfig()
    notify: NotifyConfig = NotifyConfig()


class CentralConfigError(Exception):
    """The central config file is missing, unreadable or invalid; the message names the keys."""


def load_central_config(path: str | Path | None) -> CentralConfig:
    """Read and validate central's TOML config; None gives the defaults."""
    if path is None:
        return CentralConfig()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return CentralConfig.model_validate(raw)
    except OSError as exc:
        raise CentralConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CentralConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise CentralConfigError(f"{path}: config has {len(lines)} problem(s):\n  " + "\n  ".join(lines)) from None
