"""The MQTT client both sides use: a persistent session, MQTT 5 or 3.1.1, TLS when asked, no Nagle delay."""
from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
"""Small packets go out at once; Nagle's algorithm would hold them ~40 ms for a delayed ACK."""


def persistent_client(host: str, port: int, *, client_id: str, protocol: str, session_expiry_s: int,
                      username: str | None, password: str | None, ca_file: Path | None = None,
                      cert_file: Path | None = None, key_file: Path | None = None, use_tls: bool = False,
                      **extra: Any) -> aiomqtt.Client:
    """A client whose broker session (subscriptions, queued QoS 1 messages) outlives a disconnect."""
    kwargs: dict[str, Any] = dict(extra)
    if protocol == "5":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
        kwargs.update(clean_start=False, properties=props)
    else:
        kwargs.update(clean_session=False)
    if use_tls:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if cert_file:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        kwargs["tls_context"] = context
    return aiomqtt.Client(
        host, port, identifier=client_id, username=username, password=password,
        protocol=aiomqtt.ProtocolVersion.V5 if protocol == "5" else aiomqtt.ProtocolVersion.V311,
        timeout=10, socket_options=SOCKET_OPTIONS, **kwargs)
