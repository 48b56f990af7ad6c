"""Pure parsing of one uplink message into storable events and dead letters (no I/O)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import Field, TypeAdapter, ValidationError

from central.nul import contains_nul
from estatelink import wire

_EVENTS = TypeAdapter(list[wire.Envelope])
TOMBSTONE_KIND = "outbox.dropped"
MAX_SEQ = 2**63 - 1
"""The largest sequence the events table (BIGINT) holds."""
_ESCAPED_NUL = b"\\u0000"


_ID = re.compile(wire.ID_PATTERN)


def check_topic_ids(topic: wire.Topic) -> None:
    """Raise WireError unless the topic's estate and gateway are ids central can store (docs/wire.md)."""
    for what, value in (("estate", topic.estate), ("gateway", topic.gateway)):
        if not _ID.match(value):
            raise wire.WireError(f"topic {what} {value!r} is not an id: lower-case letters, digits, '_' and '-', "
                                 f"at most 64 characters")


def unstorable(event: wire.Envelope) -> str | None:
    """Why a valid envelope still cannot be stored, or None."""
    if event.seq > MAX_SEQ:
        return f"seq {event.seq} is above the largest storable sequence {MAX_SEQ}"
    if contains_nul(event.device) or contains_nul(event.data):
        return f"seq {event.seq} holds a NUL character (U+0000) in device or data, which cannot be stored"
    return None


@dataclass(frozen=True, slots=True)
class Rejected:
    """Something to dead-letter: the reason, and the gateway sequence it accounts for when known."""

    reason: str
    estate: str | None = None
    gateway: str | None = None
    seq: int | None = None
    payload: bytes = b""


@dataclass(slots=True)
class Parsed:
    estate: str | None = None
    gateway: str | None = None
    events: list[wire.Envelope] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def accounted(self) -> set[int]:
        """Every sequence this message settles: stored events, tombstoned runs, dead-lettered events."""
        seqs: set[int] = set()
        for event in self.events:
            seqs.add(event.seq)
            if event.kind == TOMBSTONE_KIND and isinstance(event.data.get("to_seq"), int):
                seqs.update(range(event.seq, min(event.data["to_seq"], event.seq + 10_000_000) + 1))
        seqs.update(r.seq for r in self.rejected if r.seq is not None)
        return seqs


def parse_uplink(topic: wire.Topic, payload: bytes) -> Parsed:
    """Validate a batch from `topic`; whatever cannot be stored comes back as Rejected with its reason."""
    result = Parsed()
    fast = _fast_path(topic, payload)
    if fast is not None:
        return fast
    if len(payload) > wire.MAX_PAYLOAD_BYTES:
        result.rejected.append(Rejected(
            f"payload of {len(payload)} bytes exceeds the {wire.MAX_PAYLOAD_BYTES}-byte limit", payload=payload))
        return result
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        result.rejected.append(Rejected(f"malformed JSON: {exc}", payload=payload))
        return result
    try:
        batch = wire.Batch.model_validate(raw)
    except ValidationError as exc:
        result.rejected.append(Rejected(f"not a batch: {wire.describe_validation_error(exc)}", payload=payload))
        return result
    if (batch.estate, batch.gateway) != (topic.estate, topic.gateway):
        result.rejected.append(Rejected(
            f"batch claims gateway {batch.estate}/{batch.gateway} but arrived on the topic of "
            f"{topic.estate}/{topic.gateway}", payload=payload))
        return result
    result.estate, result.gateway = topic.estate, topic.gateway
    try:
        candidates = _EVENTS.validate_python(batch.events)
    except ValidationError:
        candidates = _one_by_one(batch.events, result)
    for event in candidates:
        if (event.estate, event.gateway) != (topic.estate, topic.gateway):
            result.rejected.append(Rejected(
                f"event seq {event.seq} claims gateway {event.estate}/{event.gateway} but arrived on the topic "
                f"of {topic.estate}/{topic.gateway}", payload=orjson.dumps(event.model_dump(mode="json"))))
        elif (reason := unstorable(event)) is not None:
            result.rejected.append(Rejected(
                f"invalid event: {reason}", topic.estate, topic.gateway, event.seq if event.seq <= MAX_SEQ else None,
                orjson.dumps(event.model_dump(mode="json"))))
        else:
            result.events.append(event)
    return result


class _CleanBatch(wire.Batch):
    events: list[wire.Envelope] = Field(min_length=1)  # type: ignore[assignment]


def _fast_path(topic: wire.Topic, payload: bytes) -> Parsed | None:
    """One validation pass for the common case: a well-formed batch, every event from this gateway."""
    if len(payload) > wire.MAX_PAYLOAD_BYTES or _ESCAPED_NUL in payload:
        return None
    try:
        batch = _CleanBatch.model_validate_json(payload)
    except ValidationError:
        return None
    here = (topic.estate, topic.gateway)
    if (batch.estate, batch.gateway) != here or any(
            (e.estate, e.gateway) != here or e.seq > MAX_SEQ or contains_nul(e.device) for e in batch.events):
        return None
    return Parsed(topic.estate, topic.gateway, batch.events)


def _one_by_one(events: list[dict[str, Any]], result: Parsed) -> list[wire.Envelope]:
    good = []
    for raw in events:
        try:
            good.append(wire.Envelope.model_validate(raw))
        except ValidationError as exc:
            seq = raw.get("seq") if isinstance(raw, dict) else None
            claims_here = isinstance(raw, dict) and (raw.get("estate"), raw.get("gateway")) == (
                result.estate, result.gateway)
            result.rejected.append(Rejected(
                f"invalid event: {wire.describe_validation_error(exc)}", result.estate, result.gateway,
                seq if isinstance(seq, int) and seq >= 1 and claims_here else None, orjson.dumps(raw)))
    return good


def parse_state(payload: bytes) -> wire.GatewayState:
    """A gateway's birth, heartbeat or last will; WireError when it is not one or cannot be stored."""
    state = wire.loads(wire.GatewayState, payload)
    if contains_nul(state.model_dump(mode="json")):
        raise wire.WireError("it holds a NUL character (U+0000), which cannot be stored")
    return state


def event_row(event: wire.Envelope, stored_at: datetime) -> dict[str, Any]:
    """The events-table row for a validated envelope."""
    return {
        "uuid": str(event.id), "estate": event.estate, "gateway": event.gateway, "seq": event.seq,
        "device": event.device, "kind": event.kind, "device_time": event.device_time,
        "received_at": event.received_at, "stored_at": stored_at, "data": event.data,
    }
