"""Online payments: the provider interface, a simulated provider, and receiving a provider's notification.

The simulated provider ("sim") signs like the real ones do: headers X-Sim-Timestamp (Unix seconds), X-Sim-Nonce
(8..64 characters of [A-Za-z0-9_-]) and X-Sim-Signature = "v1=" + hex HMAC-SHA256 over
"{timestamp}.{nonce}." + the raw body, with the secret shared with the provider (ESTATELINK_PAYMENT_SIM_SECRET).
A timestamp more than 5 minutes off is refused, and a nonce is accepted once (kept for twice the window, after
which the timestamp check refuses it anyway). The provider's payment id is unique: the same payment notified
again, with a fresh nonce as providers do on retry, answers "duplicate" and posts nothing. A payment is posted
when central receives it, like one at the desk; the provider's paid_at is kept with the notification (raw).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

import orjson
from pydantic import AwareDatetime, Field, StringConstraints, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.auth.roles import Role
from central.billing.cashier import receipt, record_money
from central.billing.errors import BadNotification, BadSignature, Conflict, NotFound, Replayed
from central.billing.models import Payment, WebhookNonce
from central.billing.params import Amount
from central.registry.common import Body
from central.registry.models import Building, Unit
from estatelink import wire

WINDOW = timedelta(minutes=5)
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,11}")
_SIGNATURE = re.compile(r"v1=[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified payment notification."""

    provider: str
    nonce: str
    payment_id: str
    estate: str
    unit_id: int
    amount: Decimal
    purpose: str
    paid_at: datetime
    raw: dict[str, Any]


class PaymentProvider(Protocol):
    """A payment provider: turns a signed HTTP notification into a Notification, or raises a WebhookError."""

    name: str

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Notification:
        """The notification if the request is the provider's; BadSignature or BadNotification if not."""
        ...


class SimBody(Body):
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    estate: Annotated[str, StringConstraints(pattern=wire.ID_PATTERN)]
    unit_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    amount: Annotated[Amount, Field(gt=0)]
    currency: Literal["CNY"] = "CNY"
    purpose: Literal["payment", "prepayment"] = "payment"
    paid_at: AwareDatetime

    @field_validator("paid_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("is outside the years 1 to 9999 in UTC") from None


def sign(secret: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    """The simulated provider's signature header value."""
    digest = hmac.new(secret, f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"[:200]


class SimulatedProvider:
    """The simulated provider; `simulators/payment_provider.py` is its sending side."""

    name = "sim"

    def __init__(self, secret: bytes, window: timedelta = WINDOW) -> None:
        if len(secret) < 16:
            raise ValueError("the shared secret must be at least 16 bytes")
        self.secret, self.window = secret, window

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Notification:
        """Check the signature, the timestamp window and the body."""
        timestamp, nonce = headers.get("X-Sim-Timestamp", ""), headers.get("X-Sim-Nonce", "")
        signature = headers.get("X-Sim-Signature", "")
        if not (_TIMESTAMP.fullmatch(timestamp) and _NONCE.fullmatch(nonce) and _SIGNATURE.fullmatch(signature)):
            raise BadSignature("missing or malformed X-Sim-Timestamp (Unix seconds), X-Sim-Nonce (8 to 64 of "
                               "A-Z a-z 0-9 _ -) or X-Sim-Signature (v1= and 64 lowercase hex digits)")
        if not hmac.compare_digest(sign(self.secret, timestamp, nonce, body).encode(), signature.encode()):
            raise BadSignature("the signature does not match the body")
        sent = datetime.fromtimestamp(int(timestamp), timezone.utc)
        if abs(now - sent) > self.window:
            raise BadSignature(f"the timestamp is {abs(now - sent).total_seconds():.0f} s off; at most "
                               f"{self.window.total_seconds():.0f} s are accepted")
        try:
            data = SimBody.model_validate(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            raise BadNotification(f"not a payment notification: {str(exc)[:200]}") from None
        except ValidationError as exc:
            raise BadNotification(f"not a payment notification: {_first_error(exc)}") from None
        return Notification(self.name, nonce, data.id, data.estate, data.unit_id, data.amount, data.purpose,
                            data.paid_at, orjson.loads(body))


def providers() -> dict[str, PaymentProvider]:
    """The providers configured in the environment (ESTATELINK_PAYMENT_SIM_SECRET for the simulated one)."""
    found: dict[str, PaymentProvider] = {}
    secret = os.environ.get("ESTATELINK_PAYMENT_SIM_SECRET")
    if secret:
        found["sim"] = SimulatedProvider(secret.encode())
    return found


def provider_principal(name: str) -> Principal:
    """Who postings from a provider's notifications are recorded as."""
    return Principal(user_id=0, username=f"provider:{name}", role=Role.ADMIN, estates=None)


async def _first_use(conn: AsyncConnection, provider: str, nonce: str, now: datetime) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(delete(WebhookNonce).where(WebhookNonce.received_at < now - 2 * WINDOW))
    stmt = (dialect.insert(WebhookNonce).values(provider=provider, nonce=nonce, received_at=now)
            .on_conflict_do_nothing().returning(WebhookNonce.nonce))
    return (await conn.execute(stmt)).scalar_one_or_none() is not None


async def receive(conn: AsyncConnection, provider: PaymentProvider, headers: Mapping[str, str],
                  body: bytes) -> dict[str, Any]:
    """Verify a notification and post its payment once; answers status posted or duplicate with the receipt."""
    now = wire.utc_now()
    note = provider.verify(headers, body, now)
    if not await _first_use(conn, provider.name, note.nonce, now):
        raise Replayed(f"nonce {note.nonce} was used before: the notification is a replay")
    seen = (await conn.execute(select(Payment).where(Payment.provider == provider.name,
                                                     Payment.provider_payment_id == note.payment_id))).first()
    if seen is not None:
        if seen.unit_id != note.unit_id or Decimal(seen.amount) != note.amount:
            raise Conflict(f"payment {note.payment_id} was notified before with another unit or amount")
        return {"status": "duplicate", "receipt": await receipt(conn, seen.id)}
    unit = (await conn.execute(select(Unit.id, Unit.estate, Building.code, Unit.number).join(
        Building, Building.id == Unit.building_id).where(Unit.id == note.unit_id))).first()
    if unit is None or unit.estate != note.estate:
        raise BadNotification(f"estate {note.estate!r} has no unit {note.unit_id}")
    payment_id = await record_money(conn, provider_principal(provider.name), unit, purpose=note.purpose,
                                    method="online", amount=note.amount, provider=provider.name,
                                    provider_payment_id=note.payment_id, raw=note.raw, at=now,
                                    note=f"{provider.name} payment {note.payment_id}")
    return {"status": "posted", "receipt": await receipt(conn, payment_id)}


def provider_named(name: str) -> PaymentProvider:
    """The configured provider of that name, or NotFound."""
    found = providers().get(name)
    if found is None:
        raise NotFound(f"no payment provider {name!r} is configured")
    return found
