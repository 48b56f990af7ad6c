"""Notify's errors: the registry's NotFound, Conflict and Invalid for the services (the shared HTTP mapping answers
them), and the send errors, split into transient (retry later) and permanent (this message can never go)."""
from __future__ import annotations

from central.registry.errors import Conflict, Invalid, NotFound, RegistryError

__all__ = ["Conflict", "Invalid", "NotFound", "RegistryError", "SendError", "TransientSendError",
           "PermanentSendError", "FontMissing"]


class SendError(Exception):
    """A send failed; the message is safe to store and show (it never holds a credential)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientSendError(SendError):
    """Worth retrying: the server is down or busy (4xx), TLS or login failed, the font is not installed yet."""


class PermanentSendError(SendError):
    """Retrying cannot help: the server refused this recipient or message for good (5xx), the address is bad."""


class FontMissing(TransientSendError):
    """The CJK font for notice PDFs is not installed; the message names the Debian package."""
