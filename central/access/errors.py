"""Access refusals: the registry's NotFound, Conflict and Invalid, so the shared HTTP mapping answers them."""
from __future__ import annotations

from central.registry.errors import Conflict, Invalid, NotFound, RegistryError

__all__ = ["BrokerUnavailable", "Conflict", "Invalid", "NotFound", "RegistryError"]


class BrokerUnavailable(RuntimeError):
    """Central is not connected to the broker, so a command cannot be sent now."""
