"""Central's Ed25519 key for visitor passes: made on first use, kept in a file, never logged.

The file is ESTATELINK_PASS_KEY_FILE, by default `visitor-pass.key` next to the data key file
(central/registry/identity.py), mode 0600, PKCS#8 PEM. Back it up with the data key: passes already issued
verify only against its public key, which the gateways hold (see docs/access.md).
"""
from __future__ import annotations

import base64
import logging
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.registry.identity import DEFAULT_KEY_FILE, KEY_FILE_ENV

log = logging.getLogger("central.access.signing")

PASS_KEY_FILE_ENV = "ESTATELINK_PASS_KEY_FILE"
PASS_KEY_NAME = "visitor-pass.key"

_lock = threading.Lock()
_cache: dict[str, Ed25519PrivateKey] = {}


class SigningKeyError(RuntimeError):
    """The pass key file exists but cannot be read as an Ed25519 private key."""


def key_path() -> Path:
    """Where the pass key lives: the env setting, else next to the data key file."""
    configured = os.environ.get(PASS_KEY_FILE_ENV)
    if configured:
        return Path(configured).resolve()
    data_key = Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)
    return (data_key.parent / PASS_KEY_NAME).resolve()


def _create(path: Path) -> None:
    """Write a new key atomically (mode 0600) so two processes starting together agree on one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
            log.warning("made a new visitor pass signing key in %s; back it up with the database", path)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)


def signing_key() -> Ed25519PrivateKey:
    """The private key passes are signed with (made on first use)."""
    path = key_path()
    with _lock:
        found = _cache.get(str(path))
        if found is not None:
            return found
        if not path.exists():
            _create(path)
        if path.stat().st_mode & 0o077:
            log.warning("the visitor pass key file %s is readable by other users; chmod 600 it", path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{path} is not a PEM Ed25519 private key ({type(exc).__name__})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        _cache[str(path)] = key
        return key


def public_key_text() -> str:
    """The public key gateways verify passes with: its 32 raw bytes in standard base64."""
    raw = signing_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")
