"""The OSDP driver's errors: what callers of feedback() and output() can be told, and why a bus stops."""
from __future__ import annotations

from drivers.base import DriverError, LocalProtocolError


class OsdpError(DriverError):
    """Base of the OSDP driver's own errors."""


class UnknownReader(LocalProtocolError, LookupError):
    """No reader on this bus has that id or address (a mistake of the caller, not of the line)."""


class NotCapable(LocalProtocolError):
    """The reader did not report the capability a command needs; libosdp would take its refusal as a fault."""


class ReaderOffline(OsdpError):
    """The reader is not online with a secure channel, so nothing can be sent to it now (transient)."""


class CommandRefused(OsdpError):
    """libosdp would not queue the command (its queue for that reader is full, or the reader just went away)."""


class KeyUnavailable(OsdpError):
    """A reader's SCBK could not be read; the message names where it was looked for, never the key."""
