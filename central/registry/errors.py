"""The registry's errors: service functions raise these; the routes turn them into 404, 409 and 400 answers."""
from __future__ import annotations


class RegistryError(Exception):
    """A registry operation was refused; the message says why and names the field when there is one."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(RegistryError):
    """No such record (or one the caller may not see: the two look the same from outside)."""


class Conflict(RegistryError):
    """The change clashes with an existing record: a duplicate unit number, plate or card, or a record in use."""


class Invalid(RegistryError):
    """A value breaks a rule the body's types cannot express, e.g. a move-out before the move-in."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
