"""E-mail over SMTP with the standard library, in a worker thread: one connection per message.

With security starttls or tls the server's certificate is verified (system CAs or notify.smtp.ca_file) and a
server that does not offer STARTTLS is refused: there is no silent fallback to plaintext. The password comes
from the environment or a file and never reaches a log, an error message or the database.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from pydantic import SecretStr

from central.notify.config import SmtpConfig
from central.notify.errors import PermanentSendError, SendError, TransientSendError

PASSWORD_ENV = "ESTATELINK_SMTP_PASSWORD"
PASSWORD_FILE_ENV = "ESTATELINK_SMTP_PASSWORD_FILE"


class SmtpConfigError(RuntimeError):
    """The SMTP settings cannot work (no password where one is needed, an unreadable file); central refuses to start."""


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    notification_id: int
    estate: str
    recipient: str
    subject: str
    body: str
    attachment_name: str | None = None
    attachment: bytes | None = None


def load_password(config: SmtpConfig) -> SecretStr | None:
    """The password from ESTATELINK_SMTP_PASSWORD, or the file it or the config names; None without a username."""
    if not config.username:
        return None
    if os.environ.get(PASSWORD_ENV):
        return SecretStr(os.environ[PASSWORD_ENV])
    path = Path(os.environ[PASSWORD_FILE_ENV]) if os.environ.get(PASSWORD_FILE_ENV) else config.password_file
    if path is None:
        raise SmtpConfigError(f"notify.smtp.username is set but no password: set {PASSWORD_ENV}, or "
                              f"{PASSWORD_FILE_ENV} or notify.smtp.password_file to a file holding it")
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SmtpConfigError(f"cannot read the SMTP password file {path}: {exc.strerror}") from None
    if not secret:
        raise SmtpConfigError(f"the SMTP password file {path} is empty")
    return SecretStr(secret)


def message_id(notification_id: int, estate: str, from_address: str) -> str:
    """A Message-ID fixed per notification, so a copy sent twice after a crash can be recognised as one."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    return f"<notice-{notification_id}.{estate}@{domain}>"


def build_message(config: SmtpConfig, mail: OutgoingEmail, now: datetime) -> EmailMessage:
    """The MIME message: plain-text UTF-8 body, the PDF attached; header values cannot carry line breaks."""
    message = EmailMessage()
    message["From"] = config.from_address
    message["To"] = mail.recipient
    if config.reply_to:
        message["Reply-To"] = config.reply_to
    message["Subject"] = mail.subject
    message["Message-ID"] = message_id(mail.notification_id, mail.estate, config.from_address)
    message["Date"] = format_datetime(now)
    message.set_content(mail.body, subtype="plain", charset="utf-8")
    if mail.attachment is not None:
        message.add_attachment(mail.attachment, maintype="application", subtype="pdf",
                               filename=mail.attachment_name or "notice.pdf")
    return message


def _reply(code: int, text: bytes | str, stage: str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{stage}: {code} {' '.join(text.split())}"


def _classify(code: int, description: str) -> SendError:
    """SMTP's own rule: 5xx is permanent, anything else is worth another try."""
    return PermanentSendError(description) if 500 <= code < 600 else TransientSendError(description)


class SmtpTransport:
    """Sends one message per connection; errors come back as Transient- or PermanentSendError."""

    def __init__(self, config: SmtpConfig, password: SecretStr | None) -> None:
        if config.host is None:
            raise SmtpConfigError("notify.smtp.host is not set")
        self.config = config
        self._password = password
        self._context: ssl.SSLContext | None = None
        if config.security != "none":
            try:
                self._context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
            except (OSError, ssl.SSLError) as exc:
                raise SmtpConfigError(f"cannot load notify.smtp.ca_file {config.ca_file}: {exc}") from None

    def describe(self) -> str:
        """host:port and security, for the log (never the credentials)."""
        user = f" as {self.config.username}" if self.config.username else ""
        return f"{self.config.host}:{self.config.effective_port} ({self.config.security}){user}"

    async def send(self, mail: OutgoingEmail, now: datetime) -> str:
        """Send; returns the Message-ID."""
        message = build_message(self.config, mail, now)
        await asyncio.to_thread(self._send, message, mail.recipient)
        return str(message["Message-ID"])

    def _clean(self, text: str) -> str:
        if self._password is not None and self._password.get_secret_value() in text:
            text = text.replace(self._password.get_secret_value(), "***")
        return text[:480]

    def _send(self, message: EmailMessage, recipient: str) -> None:
        try:
            self._deliver(message, recipient)
        except SendError as exc:
            raise type(exc)(self._clean(exc.message)) from None

    def _deliver(self, message: EmailMessage, recipient: str) -> None:
        config = self.config
        where = f"{config.host}:{config.effective_port}"
        client: smtplib.SMTP | None = None
        try:
            if config.security == "tls":
                client = smtplib.SMTP_SSL(config.host, config.effective_port, timeout=config.timeout_s,
                                          context=self._context)
            else:
                client = smtplib.SMTP(config.host, config.effective_port, timeout=config.timeout_s)
            client.ehlo()
            if config.security == "starttls":
                if not client.has_extn("starttls"):
                    raise TransientSendError(f"{where} does not offer STARTTLS; refusing to send in plaintext "
                                             "(security = 'none' is for a local relay only)")
                client.starttls(context=self._context)
                client.ehlo()
            if config.username:
                client.login(config.username, self._password.get_secret_value() if self._password else "")
            try:
                client.send_message(message, to_addrs=[recipient])
            except smtplib.SMTPNotSupportedError as exc:  # a non-ASCII address and a relay without SMTPUTF8
                raise PermanentSendError(f"{where} cannot carry this message: {exc}") from None
        except SendError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise TransientSendError(_reply(exc.smtp_code, exc.smtp_error, "login refused")) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, _reply(code, text, "recipient refused")) from None
        except smtplib.SMTPSenderRefused as exc:
            raise _classify(exc.smtp_code, _reply(exc.smtp_code, exc.smtp_error, "sender refused")) from None
        except smtplib.SMTPDataError as exc:
            raise _classify(exc.smtp_code, _reply(exc.smtp_code, exc.smtp_error, "message refused")) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise TransientSendError(f"{where}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            raise TransientSendError(_reply(exc.smtp_code, exc.smtp_error, where)) from None
        except ssl.SSLCertVerificationError as exc:
            raise TransientSendError(f"{where}: the server's TLS certificate does not verify: "
                                     f"{exc.verify_message or exc.reason}") from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
            raise TransientSendError(f"{where}: {type(exc).__name__}: {exc}") from None
        except (UnicodeError, ValueError) as exc:
            raise PermanentSendError(f"the message cannot be encoded: {exc}") from None
        finally:
            if client is not None:
                with contextlib.suppress(smtplib.SMTPException, OSError):  # sent is sent, whatever QUIT says
                    client.quit()
                client.close()
