"""Minimal systemd notify client (sd_notify protocol), no dependencies.

Under a ``Type=notify`` unit systemd passes ``$NOTIFY_SOCKET``; the service
sends newline-separated ``KEY=value`` datagrams to it.  Outside systemd every
function here is a harmless no-op that returns False / None.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Callable

log = logging.getLogger(__name__)


def _socket_address() -> str | bytes | None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return None
    if path.startswith("@"):
        # Abstract namespace: a leading NUL byte instead of '@'.
        return b"\0" + path[1:].encode()
    if not path.startswith("/"):
        return None  # not a unix socket path we understand (e.g. vsock:)
    return path


def notify(state: str) -> bool:
    """Send one notification datagram; True if it was sent."""
    address = _socket_address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
    except OSError as exc:
        log.warning("sd_notify %r failed: %s", state, exc)
        return False
    return True


def ready() -> bool:
    return notify("READY=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    # A newline would start a new KEY=value assignment.
    return notify("STATUS=" + text.replace("\n", " "))


def watchdog_interval() -> float | None:
    """Recommended ping period in seconds (half of WatchdogSec), or None."""
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


async def run_watchdog(is_healthy: Callable[[], bool]) -> None:
    """Ping the watchdog while ``is_healthy()`` holds; runs until cancelled.

    When unhealthy, pings are withheld so systemd kills and restarts the
    service once WatchdogSec expires.  Returns at once without a watchdog.
    """
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        try:
            healthy = bool(is_healthy())
        except Exception:
            log.exception("health check raised; treating as unhealthy")
            healthy = False
        if healthy:
            watchdog_ping()
        else:
            log.warning("unhealthy: withholding watchdog ping")
        await asyncio.sleep(interval)
