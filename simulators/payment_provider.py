"""A simulated online payment provider: it signs payment notifications and posts them to central's webhook the
way a real provider does, retrying with a fresh nonce and timestamp until central answers 200.

Signing (central/billing/providers.py checks the same, written independently here on purpose): headers
X-Sim-Timestamp (Unix seconds), X-Sim-Nonce (random, once only) and X-Sim-Signature = "v1=" + hex
HMAC-SHA256(secret, "{timestamp}.{nonce}." + body). Tests also use it to forge what an attacker would send: a
wrong secret, an old timestamp, or a recorded request sent again.

    .venv/bin/python -m simulators.payment_provider --url http://127.0.0.1:8080/api/v1/payments/webhook/sim \
        --secret "$ESTATELINK_PAYMENT_SIM_SECRET" --estate demo --unit 1 --amount 120.00
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import aiohttp
import orjson


@dataclass(frozen=True, slots=True)
class Signed:
    """A notification ready to send: its headers and exact body bytes."""

    headers: dict[str, str]
    body: bytes


class PaymentProviderSim:
    """Makes and sends signed notifications for payments taken online."""

    def __init__(self, secret: str | bytes, url: str = "") -> None:
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.url = url

    def payment(self, estate: str, unit_id: int, amount: Decimal | str, *, payment_id: str | None = None,
                purpose: str = "payment", paid_at: datetime | None = None) -> dict[str, object]:
        """A notification body for a payment the provider took."""
        return {"id": payment_id or f"sim_{uuid.uuid4().hex[:20]}", "estate": estate, "unit_id": unit_id,
                "amount": str(Decimal(amount).quantize(Decimal("0.01"))), "currency": "CNY", "purpose": purpose,
                "paid_at": (paid_at or datetime.now(timezone.utc)).isoformat()}

    def sign(self, notification: dict[str, object], *, timestamp: int | None = None, nonce: str | None = None,
             secret: bytes | None = None) -> Signed:
        """Sign a notification now (or at `timestamp`), with a fresh nonce unless one is given."""
        body = orjson.dumps(notification)
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        once = nonce or secrets.token_urlsafe(18)
        digest = hmac.new(secret or self.secret, f"{stamp}.{once}.".encode() + body, hashlib.sha256).hexdigest()
        return Signed({"X-Sim-Timestamp": stamp, "X-Sim-Nonce": once, "X-Sim-Signature": f"v1={digest}",
                       "Content-Type": "application/json"}, body)

    async def send(self, session: aiohttp.ClientSession, signed: Signed, url: str | None = None) -> tuple[int, dict]:
        """POST one signed notification; (status, answer)."""
        async with session.post(url or self.url, data=signed.body, headers=signed.headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def notify(self, session: aiohttp.ClientSession, notification: dict[str, object], *, attempts: int = 5,
                     delay_s: float = 1.0, url: str | None = None) -> tuple[int, dict]:
        """Deliver until central answers 200 (or a 4xx that retrying cannot fix), re-signing each attempt."""
        status, answer = 0, {}
        for attempt in range(attempts):
            try:
                status, answer = await self.send(session, self.sign(notification), url)
            except aiohttp.ClientError as exc:
                status, answer = 0, {"error": "unreachable", "message": str(exc)}
            if status == 200 or 400 <= status < 500:
                return status, answer
            await asyncio.sleep(delay_s * (attempt + 1))
        return status, answer


async def _main(args: argparse.Namespace) -> int:
    sim = PaymentProviderSim(args.secret, args.url)
    notification = sim.payment(args.estate, args.unit, args.amount, payment_id=args.payment_id,
                               purpose="prepayment" if args.prepayment else "payment")
    async with aiohttp.ClientSession() as session:
        for _ in range(args.times):
            status, answer = await sim.notify(session, notification)
            print(status, orjson.dumps(answer).decode())
    return 0 if status == 200 else 1


def main(argv: list[str] | None = None) -> int:
    """Send a payment notification (optionally several times, to see it posted once)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="central's webhook, .../api/v1/payments/webhook/sim")
    parser.add_argument("--secret", required=True, help="the shared secret (ESTATELINK_PAYMENT_SIM_SECRET)")
    parser.add_argument("--estate", required=True)
    parser.add_argument("--unit", type=int, required=True, help="unit id")
    parser.add_argument("--amount", type=Decimal, required=True)
    parser.add_argument("--payment-id", help="the provider's payment id (default: a new one)")
    parser.add_argument("--prepayment", action="store_true", help="money paid ahead (预存)")
    parser.add_argument("--times", type=int, default=1, help="notify this many times (default 1)")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
