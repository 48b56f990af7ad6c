"""[access] and [[doors]]: the gateway's credential cache and offline policy, and the doors it decides for.

A door names its readers (device ids, or "device/pd" for one reader on an OSDP bus), optionally a QR reader
(an ascii_reader with format = "text_line") for visitor passes, its lock (a coil of a modbus_io device, or
an output of an OSDP reader) and optionally its door contact (a discrete input of a modbus_io device).
`check_doors` checks those references against [[devices]] once both are valid.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, model_validator
from pydantic_core import InitErrorDetails

from edge_config._common import ID_RULE, EntityId, ExistingFile, ResolvedPath, Section, error_at, expected, problem

READER_DRIVERS = ("ascii_reader", "wiegand_reader", "osdp_bus")
KEY_RULE = "expected an Ed25519 public key: 64 hex digits or 44 base64 characters (32 bytes)"
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Central's visitor-pass key from hex, base64 (standard or URL-safe) or PEM text; ValueError if unusable."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode("ascii", "replace"))
        except ValueError:
            raise ValueError("the PEM block is not a public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM public key is not an Ed25519 key")
        return key
    raw: bytes | None = bytes.fromhex(text) if _HEX64.fullmatch(text) else None
    if raw is None:
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise ValueError(KEY_RULE.removeprefix("expected "))
    return Ed25519PublicKey.from_public_bytes(raw)


def _key_text(value: str) -> str:
    try:
        parse_public_key(value)
    except ValueError:
        raise expected(KEY_RULE) from None
    return value


def _not_a_directory(path: Path) -> Path:
    if path.is_dir():
        raise expected(f"expected a file path ({path} is a directory)")
    return path


class AccessSection(Section):
    """[access]: where the credential cache lives, what to do when offline too long, and central's pass key."""

    cache_path: Annotated[ResolvedPath, AfterValidator(_not_a_directory)]
    offline_mode: Literal["keep_deciding", "staff_only", "deny_all"] = "keep_deciding"
    offline_days: int = Field(7, ge=1, le=3650)
    pass_public_key: Annotated[str, AfterValidator(_key_text)] | None = None
    pass_public_key_file: ExistingFile | None = None
    _key: Ed25519PublicKey | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _one_key(self) -> AccessSection:
        if self.pass_public_key is not None and self.pass_public_key_file is not None:
            raise error_at("AccessSection", ("pass_public_key_file",),
                           problem("give either pass_public_key or pass_public_key_file, not both"), None)
        if self.pass_public_key is not None:
            self._key = parse_public_key(self.pass_public_key)
        elif self.pass_public_key_file is not None:
            try:
                self._key = parse_public_key(self.pass_public_key_file.read_text(encoding="ascii",
                                                                                 errors="replace"))
            except ValueError as exc:
                raise error_at("AccessSection", ("pass_public_key_file",),
                               problem(f"{self.pass_public_key_file}: {exc}"), None) from None
        return self

    @property
    def public_key(self) -> Ed25519PublicKey | None:
        """Central's visitor-pass verification key, if one is configured."""
        return self._key


def _reader_ref(value: str) -> str:
    device, _, pd = value.partition("/")
    if not _ID.fullmatch(device) or (pd and not _ID.fullmatch(pd)) or value.endswith("/"):
        raise expected(f'expected a device id, or "device/reader" for one reader of an OSDP bus ({ID_RULE})')
    return value


ReaderRef = Annotated[str, AfterValidator(_reader_ref)]


def split_ref(ref: str) -> tuple[str, str | None]:
    """(device, pd) of a reader reference; pd None when the reference names the whole device."""
    device, _, pd = ref.partition("/")
    return device, pd or None


class LockConfig(Section):
    """A door's lock: {modbus = io module, coil = n} or {osdp = "bus/reader", output = n}."""

    modbus: EntityId | None = None
    coil: int | None = Field(None, ge=0, le=65535)
    osdp: ReaderRef | None = None
    output: int | None = Field(None, ge=0, le=255)

    @model_validator(mode="after")
    def _one_kind(self) -> LockConfig:
        modbus = self.modbus is not None or self.coil is not None
        osdp = self.osdp is not None or self.output is not None
        if modbus and osdp:
            raise error_at("LockConfig", ("osdp" if self.osdp is not None else "output",),
                           problem("a lock is either {modbus, coil} or {osdp, output}, not both"), None)
        for kind, device, number in (("modbus", "modbus", "coil"), ("osdp", "osdp", "output")):
            if (modbus if kind == "modbus" else osdp):
                missing = device if getattr(self, device) is None else number if getattr(self, number) is None \
                    else None
                if missing:
                    raise error_at("LockConfig", (missing,), problem(f"required with {device} = ... "
                                                                      f"({device} and {number} go together)"), None)
        if not (modbus or osdp):
            raise error_at("LockConfig", ("modbus",),
                           problem("required: {modbus = io module id, coil = n} or {osdp = \"bus/reader\", "
                                   "output = n}"), None)
        return self

    @property
    def target(self) -> tuple[str, str, int]:
        """("modbus", device, coil) or ("osdp", "bus/reader", output): what a grant pulses."""
        if self.modbus is not None:
            return "modbus", self.modbus, self.coil or 0
        return "osdp", self.osdp or "", self.output or 0


class ContactConfig(Section):
    """A door-position contact on a discrete input of a modbus_io device."""

    modbus: EntityId
    input: int = Field(ge=0, le=65535)
    normally: Literal["closed", "open"] = "closed"


def _listed(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class DoorConfig(Section):
    """[[doors]]: one door the gateway decides taps for and drives the lock of."""

    id: EntityId
    name: str = ""
    readers: Annotated[tuple[ReaderRef, ...], BeforeValidator(_listed)] = ()
    qr_reader: EntityId | None = None
    lock: LockConfig
    contact: ContactConfig | None = None
    unlock_s: float = Field(5.0, gt=0, le=60)
    held_open_s: float = Field(30.0, ge=1, le=3600)


def _at(index: int, *rest: str | int) -> tuple[str | int, ...]:
    return (index, *rest)


def check_doors(doors: Sequence[DoorConfig], devices: Sequence[Any], access: AccessSection | None,
                access_given: bool) -> list[InitErrorDetails]:
    """Problems with the doors' references to devices and to [access]; locations relative to `doors`."""
    by_id = {device.id: device for device in devices}
    details: list[InitErrorDetails] = []

    def fail(loc: tuple[str | int, ...], text: str, value: Any, kind: str = "expected") -> None:
        details.append({"type": expected(text) if kind == "expected" else problem(text), "loc": loc, "input": value})

    def device_of(loc: tuple[str | int, ...], device_id: str, drivers: tuple[str, ...], what: str,
                  value: str | None = None) -> Any:
        device = by_id.get(device_id)
        if device is None or device.driver not in drivers:
            known = ", ".join(sorted(d.id for d in devices if d.driver in drivers)) or "none configured"
            fail(loc, f"expected the id of a {what} in [[devices]] ({known})", value or device_id)
            return None
        return device

    if doors and not access_given:
        details.append({"type": problem("[access] (cache_path at least) is required when [[doors]] are "
                                        "configured"), "loc": (), "input": None})
    first_door: dict[str, int] = {}
    readers_at: dict[tuple[str, str | None], int] = {}
    contacts_at: dict[tuple[str, int], int] = {}
    for index, door in enumerate(doors):
        if door.id in first_door:
            fail(_at(index, "id"), f"expected a door id not used by another door (doors[{first_door[door.id]}] "
                 "has it too)", door.id)
        first_door.setdefault(door.id, index)
        for number, ref in enumerate(door.readers):
            device_id, pd = split_ref(ref)
            device = device_of(_at(index, "readers", number), device_id, READER_DRIVERS, "card reader", ref)
            if device is None:
                continue
            if device.driver == "ascii_reader" and device.format == "text_line":
                fail(_at(index, "readers", number), "expected a card reader; a text_line reader is a QR reader "
                     "(give it as qr_reader)", ref)
            _check_pd(fail, _at(index, "readers", number), device, pd, ref)
            owner = _claimed_by(readers_at, device_id, pd, index)
            if owner is not None:
                fail(_at(index, "readers", number), f"expected a reader no other door uses (doors[{owner[0]}] "
                     f"has {owner[1]}): a tap opens one door", ref)
            readers_at.setdefault((device_id, pd), index)
        if door.qr_reader is not None:
            device = device_of(_at(index, "qr_reader"), door.qr_reader, ("ascii_reader",), "QR reader "
                               "(an ascii_reader with format = \"text_line\")")
            if device is not None and device.format != "text_line":
                fail(_at(index, "qr_reader"), f"expected an ascii_reader with format = \"text_line\" (device "
                     f"{device.id} has format {device.format!r})", door.qr_reader)
            if _claimed_by(readers_at, door.qr_reader, None, index) is not None:
                fail(_at(index, "qr_reader"), "expected a QR reader no other door uses", door.qr_reader)
            readers_at.setdefault((door.qr_reader, None), index)
            if access is not None and access.public_key is None:
                fail(_at(index, "qr_reader"), "needs central's visitor-pass key: set access.pass_public_key or "
                     "access.pass_public_key_file", door.qr_reader, kind="problem")
        kind, target, number = door.lock.target
        if kind == "modbus":
            device = device_of(_at(index, "lock", "modbus"), target, ("modbus_io",), "modbus_io device")
            if device is not None and number >= device.coils:
                fail(_at(index, "lock", "coil"), f"expected a coil of {device.id} (0 to {device.coils - 1}; "
                     f"it has coils = {device.coils})", number)
        else:
            device_id, pd = split_ref(target)
            device = device_of(_at(index, "lock", "osdp"), device_id, ("osdp_bus",), "osdp_bus device", target)
            if device is not None:
                _check_pd(fail, _at(index, "lock", "osdp"), device, pd, target, need_one=True)
        if door.contact is not None:
            contact = door.contact
            device = device_of(_at(index, "contact", "modbus"), contact.modbus, ("modbus_io",), "modbus_io device")
            if device is not None and contact.input >= device.inputs:
                fail(_at(index, "contact", "input"), f"expected a discrete input of {device.id} (0 to "
                     f"{device.inputs - 1}; it has inputs = {device.inputs})", contact.input)
            key = (contact.modbus, contact.input)
            if key in contacts_at:
                fail(_at(index, "contact", "input"), f"expected a contact no other door uses (doors"
                     f"[{contacts_at[key]}] has it)", contact.input)
            contacts_at.setdefault(key, index)
    return details


def _claimed_by(readers_at: dict[tuple[str, str | None], int], device_id: str, pd: str | None,
                index: int) -> tuple[int, str] | None:
    """(door index, reference) of another door that already uses this reader, or None."""
    for (device, other_pd), owner in readers_at.items():
        if owner != index and device == device_id and (pd is None or other_pd is None or other_pd == pd):
            return owner, device + (f"/{other_pd}" if other_pd else "")
    return None


def _check_pd(fail: Any, loc: tuple[str | int, ...], device: Any, pd: str | None, ref: str,
              need_one: bool = False) -> None:
    if device.driver != "osdp_bus":
        if pd is not None:
            fail(loc, f"expected a device id alone ({device.id} is not an OSDP bus, it has no readers to name)",
                 ref)
        return
    names = [reader.id for reader in device.readers]
    if pd is not None and pd not in names:
        fail(loc, f"expected a reader of OSDP bus {device.id} ({', '.join(names)})", ref)
    elif pd is None and need_one and len(names) > 1:
        fail(loc, f'expected "{device.id}/<reader>": the bus has {len(names)} readers ({", ".join(names)})', ref)
