"""The [notify] section of central's config: the sender's schedule, SMTP, SMS. Off unless an SMTP host is set.

The SMTP password is never in this file: it comes from ESTATELINK_SMTP_PASSWORD, or a file named by
ESTATELINK_SMTP_PASSWORD_FILE or notify.smtp.password_file (central/notify/smtp.py reads it).
"""
from __future__ import annotations

import email.utils
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _address(value: str | None) -> str | None:
    if value is None:
        return None
    if "\r" in value or "\n" in value:
        raise ValueError("an address may not contain a line break")
    _name, address = email.utils.parseaddr(value)
    if not _ADDRESS.match(address):
        raise ValueError(f"expected an address such as 'Estate Office <notice@example.com>', got {value!r}")
    return value


class SmtpConfig(_Section):
    host: str | None = None
    """Unset: no e-mail is sent (notices stay queued, visible through the API)."""
    port: int | None = Field(None, ge=1, le=65535)
    """Default 587 for starttls, 465 for tls, 25 for none."""
    security: Literal["starttls", "tls", "none"] = "starttls"
    """starttls: upgrade or refuse to send; tls: TLS from the first byte (SMTPS); none: plaintext, for a local relay."""
    ca_file: Path | None = None
    """CA bundle to verify the server's certificate with (default: the system's)."""
    username: str | None = None
    password_file: Path | None = None
    from_address: str = "EstateLink <noreply@localhost>"
    reply_to: str | None = None
    timeout_s: float = Field(30.0, gt=0, le=300)
    """Per socket operation; a send is attempted once per claim, so the lease must cover a few of these."""

    @field_validator("from_address", "reply_to")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return _address(value)

    @model_validator(mode="after")
    def _no_plaintext_secrets(self) -> "SmtpConfig":
        if self.security == "none" and (self.username or self.password_file):
            raise ValueError("security = 'none' would send the SMTP password in plaintext; use starttls or tls")
        if self.security == "none" and self.ca_file:
            raise ValueError("ca_file is given but security = 'none'; use starttls or tls (no plaintext fallback)")
        if self.password_file and not self.username:
            raise ValueError("password_file is given without username")
        return self

    @property
    def effective_port(self) -> int:
        """The port given, or the usual one for the security chosen."""
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class SmsConfig(_Section):
    provider: Literal["none", "simulated"] = "none"
    """none: SMS notices stay queued until a provider is configured; simulated: recorded in memory, for the demo."""


class NotifyConfig(_Section):
    enabled: bool = True
    """false: never start the sender, even with SMTP configured (another central process may send)."""
    poll_interval_s: float = Field(5.0, gt=0, le=3600)
    batch_size: int = Field(50, ge=1, le=10000)
    """Notices sent in one sweep before expired leases are looked at again."""
    max_attempts: int = Field(10, ge=1, le=100)
    backoff_base_s: float = Field(60.0, gt=0)
    """The wait after the first failed attempt; it doubles after each further one."""
    backoff_max_s: float = Field(4 * 3600.0, gt=0)
    lease_s: float = Field(600.0, gt=0)
    """A notice claimed longer ago than this (its sender died mid-send) is queued again."""
    font_file: Path | None = None
    """CJK TrueType font for notice PDFs (default: the one of the Debian package fonts-wqy-microhei)."""
    smtp: SmtpConfig = SmtpConfig()
    sms: SmsConfig = SmsConfig()

    @model_validator(mode="after")
    def _lease_covers_a_send(self) -> "NotifyConfig":
        if self.lease_s < 4 * self.smtp.timeout_s:
            raise ValueError(f"lease_s ({self.lease_s}) must be at least 4 × smtp.timeout_s ({self.smtp.timeout_s}): "
                             "a slow send must not be taken for a dead one and sent twice")
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must not be below backoff_base_s")
        return self

    @property
    def sends(self) -> bool:
        """Whether this process runs the sender."""
        return self.enabled and (self.smtp.host is not None or self.sms.provider != "none")
