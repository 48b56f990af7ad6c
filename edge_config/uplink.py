"""[uplink]: the MQTT connection from the gateway to the central service."""
from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from edge_config._common import ExistingFile, Section, empty_is_none, error_at, expected, problem

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
BROKER_RULE = "expected mqtt://host[:port] or mqtts://host[:port] (port 1 to 65535)"


def split_broker(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a broker URL; ValueError unless it is mqtt[s]://host[:port]."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(url)
    port = parts.port  # ValueError when not a number or above 65535
    if port == 0:
        raise ValueError(url)
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


class TlsConfig(Section):
    """[uplink.tls]: the CA that signs the broker's certificate, and an optional client certificate."""

    ca_file: ExistingFile
    cert_file: ExistingFile | None = None
    key_file: ExistingFile | None = None

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if self.cert_file is not None and self.key_file is None:
            raise error_at("TlsConfig", ("key_file",), problem("required when cert_file is given"), None)
        if self.key_file is not None and self.cert_file is None:
            raise error_at("TlsConfig", ("cert_file",), problem("required when key_file is given"), None)
        return self


class UplinkConfig(Section):
    """[uplink]: broker address, credentials, batching and timing of the MQTT uplink."""

    broker: str
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str = ""
    username: str | None = None
    password: SecretStr | None = None
    password_file: ExistingFile | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    batch_max_events: int = Field(500, ge=1, le=10_000)
    batch_max_bytes: int = Field(262_144, ge=1024, le=8_388_608)
    linger_ms: int = Field(5, ge=0, le=1000)
    ack_timeout_s: float = Field(5.0, gt=0, le=600)
    heartbeat_s: float = Field(10.0, ge=1, le=3600)
    reconnect_min_s: float = Field(0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    tls: TlsConfig | None = Field(None, validate_default=True)

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        if "@" in value.partition("://")[2].partition("/")[0]:
            raise problem("credentials do not belong in the broker URL; use username and password_file")
        try:
            split_broker(value)
        except ValueError:
            raise expected(BROKER_RULE) from None
        return value

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_username_or_password(cls, value: Any) -> Any:
        return empty_is_none(value)

    @field_validator("password_file", mode="before")
    @classmethod
    def _one_password_source(cls, value: Any, info: ValidationInfo) -> Any:
        value = empty_is_none(value)
        if value is not None and info.data.get("password") is not None:
            raise problem("give either password or password_file, not both")
        return value

    @field_validator("reconnect_max_s")
    @classmethod
    def _max_not_below_min(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("reconnect_min_s")
        if low is not None and value < low:
            raise expected(f"expected a number >= reconnect_min_s ({low})")
        return value

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_matches_scheme(cls, value: Any, info: ValidationInfo) -> Any:
        broker = info.data.get("broker")
        if broker is None:
            return value
        if split_broker(broker)[0] == "mqtts" and value is None:
            raise problem("required when uplink.broker is mqtts:// (add an [uplink.tls] table with ca_file)")
        if split_broker(broker)[0] == "mqtt" and value is not None:
            raise problem(f"TLS files given but uplink.broker is {broker}; use mqtts://")
        return value

    @model_validator(mode="after")
    def _password_needs_username(self) -> UplinkConfig:
        # paho (under aiomqtt) silently drops a password sent without a username.
        if self.username is None and (self.password is not None or self.password_file is not None):
            raise error_at("UplinkConfig", ("username",), problem("required when a password is given"), None)
        return self

    @property
    def host(self) -> str:
        """Broker host name or address, from `broker`."""
        return split_broker(self.broker)[1]

    @property
    def port(self) -> int:
        """Broker TCP port, from `broker` (1883 for mqtt://, 8883 for mqtts:// when not given)."""
        return split_broker(self.broker)[2]

    @property
    def use_tls(self) -> bool:
        """True for an mqtts:// broker."""
        return split_broker(self.broker)[0] == "mqtts"

    def resolved_password(self) -> str | None:
        """The password, read from password_file (one trailing newline stripped) when that is used."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            return None
        text = self.password_file.read_text(encoding="utf-8")
        return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
