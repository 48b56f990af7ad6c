"""TLS when configured, never a silent plaintext fallback; the SMTP password from env or a file, never shown."""
from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from central.notify import service
from central.notify.config import NotifyConfig, SmtpConfig
from central.notify.sender import NotifySender
from central.notify.smtp import PASSWORD_ENV, SmtpConfigError, SmtpTransport, load_password
from tests.notify.conftest import OFFICE, bill_notice, notify_config
from tests.notify.support import Inbox, SmtpServer, make_ca


@pytest.fixture
def ca(tmp_path):
    return make_ca(tmp_path)


@pytest.fixture
def tls_inbox():
    return Inbox(password=b"s3cret-Pa55word")


@pytest.fixture
def starttls_server(ca, tls_inbox):
    server = SmtpServer(tls_inbox, tls_context=ca.server_context(), require_starttls=True,
                        authenticator=tls_inbox.authenticate)
    server.start()
    yield server
    server.stop()


async def send_one(engine, demo, clock, config: NotifyConfig) -> dict:
    async with engine.begin() as conn:
        queued = await service.enqueue(conn, OFFICE, bill_notice(demo, document=False), now=clock())
    transport = SmtpTransport(config.smtp, load_password(config.smtp))
    assert await NotifySender(engine, config, email=transport, clock=clock).run_once() == 1
    async with engine.connect() as conn:
        return await service.get_notification(conn, queued.id)


async def test_starttls_with_the_configured_ca_and_a_password_file(engine, demo, clock, ca, starttls_server,
                                                                   tls_inbox, tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret-Pa55word\n")
    config = notify_config(starttls_server.port, smtp={"security": "starttls", "ca_file": str(ca.ca_file),
                                                       "username": "notice", "password_file": str(secret)})
    assert "s3cret" not in SmtpTransport(config.smtp, load_password(config.smtp)).describe()
    done = await send_one(engine, demo, clock, config)
    assert done["status"] == "sent", done["last_error"]
    assert tls_inbox.logins == [("notice", b"s3cret-Pa55word")]
    assert len(tls_inbox.messages) == 1


async def test_a_wrong_password_is_retried_and_never_shown(engine, demo, clock, ca, starttls_server, tls_inbox,
                                                           monkeypatch, caplog):
    monkeypatch.setenv(PASSWORD_ENV, "Wr0ng-Secret-Value")
    config = notify_config(starttls_server.port, smtp={"security": "starttls", "ca_file": str(ca.ca_file),
                                                       "username": "notice"})
    with caplog.at_level(logging.DEBUG):
        done = await send_one(engine, demo, clock, config)
    assert done["status"] == "queued" and done["last_error"].startswith("login refused: 535")
    assert set(tls_inbox.logins) == {("notice", b"Wr0ng-Secret-Value")} and tls_inbox.messages == []
    shown = caplog.text + str(done)
    assert "Wr0ng-Secret-Value" not in shown


async def test_a_certificate_that_does_not_verify_stops_the_send(engine, demo, clock, starttls_server, tls_inbox):
    config = notify_config(starttls_server.port, smtp={"security": "starttls"})  # system CAs only
    done = await send_one(engine, demo, clock, config)
    assert done["status"] == "queued" and "certificate does not verify" in done["last_error"]
    assert tls_inbox.messages == []


async def test_no_plaintext_fallback_when_the_server_offers_no_starttls(engine, demo, clock, smtp_server, inbox):
    config = notify_config(smtp_server.port, smtp={"security": "starttls"})
    done = await send_one(engine, demo, clock, config)
    assert done["status"] == "queued" and "does not offer STARTTLS; refusing to send in plaintext" in done[
        "last_error"]
    assert inbox.messages == []


async def test_smtps_from_the_first_byte(engine, demo, clock, ca):
    inbox = Inbox()
    server = SmtpServer(inbox, ssl_context=ca.server_context())
    server.start()
    try:
        config = notify_config(server.port, smtp={"security": "tls", "ca_file": str(ca.ca_file)})
        done = await send_one(engine, demo, clock, config)
    finally:
        server.stop()
    assert done["status"] == "sent", done["last_error"]
    assert len(inbox.messages) == 1


def test_the_config_refuses_what_would_leak_or_cannot_work(monkeypatch, tmp_path):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ValidationError, match="plaintext"):
        SmtpConfig(host="mail.example.com", security="none", username="notice")
    with pytest.raises(ValidationError, match="no plaintext fallback"):
        SmtpConfig(host="mail.example.com", security="none", ca_file=tmp_path / "ca.pem")
    with pytest.raises(ValidationError, match="line break"):
        SmtpConfig(host="mail.example.com", from_address="a@b.example\r\nBcc: x@y.example")
    with pytest.raises(ValidationError, match="lease_s"):
        NotifyConfig(lease_s=60, smtp={"timeout_s": 30})
    assert SmtpConfig(host="m.example").effective_port == 587 and SmtpConfig(security="tls").effective_port == 465
    with pytest.raises(SmtpConfigError, match=PASSWORD_ENV):
        load_password(SmtpConfig(host="mail.example.com", username="notice"))
    with pytest.raises(SmtpConfigError, match="cannot read"):
        load_password(SmtpConfig(host="mail.example.com", username="notice", password_file=tmp_path / "missing"))
    assert not NotifyConfig().sends and NotifyConfig(smtp={"host": "m.example"}).sends
