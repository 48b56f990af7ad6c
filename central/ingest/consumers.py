"""What other modules derive from events as they are stored: in the same transaction, each under a savepoint.

A consumer gets the event rows of one commit group (duplicates of stored events included: consumers are
idempotent) and returns how many records it derived (counted `derived_{name}`), or a Counter of what became of
the events (counted `{name}_{outcome}`, e.g. `metering_unbound`); ingest's counters show at GET /health. A
consumer that fails is rolled back to its savepoint, logged and counted; it never costs the events themselves,
which are stored and acknowledged regardless.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger("central.ingest")
EventConsumer = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[int | Mapping[str, int]]]


def default_consumers() -> dict[str, EventConsumer]:
    """The consumers central runs: attendance from card reads at attendance points, meter readings, and the
    access module's access log, alarms and remote-open results."""
    from central.access.events import CONSUMERS as ACCESS_CONSUMERS
    from central.metering.events import MeterReadingConsumer
    from central.registry.attendance import record_attendance_taps

    return {"attendance": record_attendance_taps, "metering": MeterReadingConsumer(), **ACCESS_CONSUMERS}


async def run_consumers(conn: AsyncConnection, consumers: dict[str, EventConsumer], rows: list[dict[str, Any]],
                        counters: Counter[str]) -> None:
    """Run each consumer on the group's rows inside the caller's transaction."""
    for name, consume in consumers.items():
        try:
            async with conn.begin_nested():
                result = await consume(conn, rows)
            if isinstance(result, int):
                counters[f"derived_{name}"] += result
            else:
                counters.update({f"{name}_{outcome}": n for outcome, n in result.items()})
        except (SQLAlchemyError, ValueError, KeyError, TypeError) as exc:
            counters[f"consumer_failures_{name}"] += 1
            log.error("the %s consumer failed on a group of %d events and was skipped: %s", name, len(rows), exc)
        except Exception:  # another module's bug must not stop ingest
            counters[f"consumer_failures_{name}"] += 1
            log.exception("the %s consumer crashed on a group of %d events and was skipped", name, len(rows))
