"""Metering's refusals: the registry's NotFound, Conflict and Invalid, so the shared HTTP mapping answers them.

The pure rules raise `consumption.MeteringError` for inputs they cannot meter; the services check their inputs
first, so one reaching a route is a bug, not a user's mistake.
"""
from __future__ import annotations

from central.registry.errors import Conflict, Invalid, NotFound, RegistryError

__all__ = ["Conflict", "Invalid", "NotFound", "RegistryError"]
