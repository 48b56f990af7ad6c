"""Identity numbers (身份证号): encrypted at rest (Fernet), found by a keyed HMAC, only ever shown masked.

The key comes from ESTATELINK_DATA_KEY (urlsafe base64 of 32 bytes, what `Fernet.generate_key()` prints).
Without it, a key file is made on first use (ESTATELINK_DATA_KEY_FILE, default var/data.key, mode 0600)
and a warning says so once: that file must be backed up with the database, or the numbers are lost.
The search digest uses a key derived from the same material, so exact search needs no decryption.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger("central.registry.identity")

KEY_ENV = "ESTATELINK_DATA_KEY"
KEY_FILE_ENV = "ESTATELINK_DATA_KEY_FILE"
DEFAULT_KEY_FILE = Path("var/data.key")
_SEARCH_CONTEXT = b"estatelink/identity-search/v1"
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9A-Z]{6,32}$")
_CN_18 = re.compile(r"^\d{17}[\dX]$")


class DataKeyError(RuntimeError):
    """The data key is missing, malformed or cannot decrypt what is stored."""


@dataclass(frozen=True, slots=True)
class Protected:
    """What the database keeps of an identity number."""

    cipher: str
    digest: str
    masked: str


@dataclass(frozen=True, slots=True)
class _Keys:
    fernet: Fernet
    search: bytes


_lock = threading.Lock()
_cache: dict[tuple[str | None, str | None], _Keys] = {}
_warned = False


def _decode(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise DataKeyError(f"{where}: expected 32 bytes in urlsafe base64 (make one with "
                           "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)")
    return raw


def _key_file(path: Path) -> bytes:
    """Read the key file, or make it (mode 0600) atomically so two processes starting together agree."""
    global _warned
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)  # fails if another process made the file first: then use theirs
            except FileExistsError:
                pass
        finally:
            temp.unlink(missing_ok=True)
    if not _warned:
        _warned = True
        log.warning("%s is not set: identity numbers are encrypted with the key in %s; back that file up with "
                    "the database (without it they cannot be read) or set %s", KEY_ENV, path, KEY_ENV)
    if path.stat().st_mode & 0o077:
        log.warning("the data key file %s is readable by other users; chmod 600 it", path)
    return _decode(path.read_text(), str(path))


def _keys() -> _Keys:
    env = os.environ.get(KEY_ENV) or None
    path = None if env else str(Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).resolve())
    with _lock:
        found = _cache.get((env, path))
        if found is None:
            raw = _decode(env, KEY_ENV) if env else _key_file(Path(path))
            found = _Keys(Fernet(base64.urlsafe_b64encode(raw)), hmac.new(raw, _SEARCH_CONTEXT, hashlib.sha256).digest())
            _cache[(env, path)] = found
        return found


def normalise(value: str) -> str:
    """Full-width digits to ASCII, spaces dropped, a trailing x upper-cased."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def validate(value: str) -> str:
    """The normalised number, or ValueError saying what is wrong (an 18-digit PRC number must check out)."""
    number = normalise(value)
    if not _SHAPE.match(number):
        raise ValueError("expected 6 to 32 letters and digits (an 18-digit 身份证号, a passport or permit number)")
    if _CN_18.match(number):
        expected = _CN_CHECK[sum(int(d) * w for d, w in zip(number[:17], _CN_WEIGHTS)) % 11]
        if number[17] != expected:
            raise ValueError("the check digit of this 18-digit identity number does not match; "
                             "a digit was probably mistyped")
    return number


def mask(number: str) -> str:
    """1101**********1234: the first 4 and last 4 characters of long numbers; less of short ones."""
    if len(number) <= 8:
        return "*" * (len(number) - 2) + number[-2:]
    keep = 4 if len(number) >= 12 else 2
    return number[:keep] + "*" * (len(number) - 2 * keep) + number[-keep:]


def digest(number: str) -> str:
    """The keyed search digest of a (normalised) number: equal numbers give equal digests."""
    return hmac.new(_keys().search, normalise(number).encode(), hashlib.sha256).hexdigest()


def protect(number: str) -> Protected:
    """Encrypt a validated number for storage, with its search digest and masked form."""
    number = normalise(number)
    cipher = _keys().fernet.encrypt(number.encode()).decode("ascii")
    return Protected(cipher=cipher, digest=digest(number), masked=mask(number))


def reveal(cipher: str) -> str:
    """Decrypt a stored number (for exports by authorised tools; the API never shows it)."""
    try:
        return _keys().fernet.decrypt(cipher.encode("ascii")).decode()
    except InvalidToken:
        raise DataKeyError("this identity number was encrypted with a different data key") from None
