"""Billing's refusals: the registry's NotFound, Conflict and Invalid (the shared HTTP mapping answers them), and
the webhook's own: a notification whose signature does not verify, or one seen before."""
from __future__ import annotations

from central.registry.errors import Conflict, Invalid, NotFound, RegistryError

__all__ = ["Conflict", "Invalid", "NotFound", "RegistryError", "BadSignature", "Replayed", "BadNotification"]


class WebhookError(Exception):
    """A provider notification was refused; the message says why (never echoing secrets)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadSignature(WebhookError):
    """Missing, malformed, stale or wrong signature: the sender is not the provider (401)."""


class Replayed(WebhookError):
    """The nonce was seen before: a recorded notification sent again (409)."""


class BadNotification(WebhookError):
    """Signed correctly but not a payment we can post: unknown unit, bad amount (422)."""
