"""The wire contract between gateways and central: topics, envelopes, batches, acks, commands, state.

Both sides import this module and nothing else of each other. It depends only on pydantic and orjson.
`docs/wire.md` describes the same contract in prose; change both together.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

WIRE_VERSION = 1
MAX_PAYLOAD_BYTES = 1024 * 1024
"""Central dead-letters any uplink payload larger than this; gateways keep batches well below it."""

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
KIND_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
STREAMS = ("alarm", "access", "metering", "patrol", "video", "system")
"""Uplink streams, most urgent first. Access and alarm events are never dropped by a gateway."""

NEVER_DROPPED_STREAMS = frozenset({"alarm", "access"})
_STREAM_BY_PREFIX = {
    "alarm": "alarm", "door": "access", "card": "access", "access": "access", "visitor": "access",
    "meter": "metering", "patrol": "patrol", "video": "video", "camera": "video",
}
_ALARM_KINDS = frozenset({"door.forced", "door.held_open", "device.tamper", "device.offline", "outbox.near_full"})


def stream_for_kind(kind: str) -> str:
    """The uplink stream an event kind travels on."""
    if kind in _ALARM_KINDS:
        return "alarm"
    return _STREAM_BY_PREFIX.get(kind.split(".", 1)[0], "system")


def stream_priority(stream: str) -> int:
    """Lower is more urgent."""
    return STREAMS.index(stream) if stream in STREAMS else len(STREAMS)


# --- topics -----------------------------------------------------------------------------------

def gateway_prefix(estate: str, gateway: str) -> str:
    return f"estate/{estate}/gw/{gateway}"


def uplink_topic(estate: str, gateway: str, stream: str) -> str:
    return f"{gateway_prefix(estate, gateway)}/up/{stream}"


def state_topic(estate: str, gateway: str) -> str:
    return f"{gateway_prefix(estate, gateway)}/state"


def ack_topic(estate: str, gateway: str) -> str:
    return f"{gateway_prefix(estate, gateway)}/ack"


ACCESS_COMMANDS = ("access_delta", "access_snapshot", "access_current", "door_open")
"""Commands of the access module (docs/wire.md, "Access: cache sync and door commands")."""


def command_topic(estate: str, gateway: str, command: str) -> str:
    return f"{gateway_prefix(estate, gateway)}/down/{command}"


def reply_topic(estate: str, gateway: str) -> str:
    return f"{gateway_prefix(estate, gateway)}/reply"


CENTRAL_SUBSCRIPTIONS = ("estate/+/gw/+/up/+", "estate/+/gw/+/state", "estate/+/gw/+/reply")


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed EstateLink topic: channel is 'up', 'state', 'ack', 'down' or 'reply'."""

    estate: str
    gateway: str
    channel: str
    name: str | None = None


_TOPIC_RE = re.compile(
    r"^estate/(?P<estate>[^/+#]+)/gw/(?P<gateway>[^/+#]+)/"
    r"(?:(?P<channel>up|down)/(?P<name>[^/+#]+)|(?P<single>state|ack|reply))$"
)


class WireError(ValueError):
    """A payload or topic that does not follow the wire contract; the message says what is wrong."""


def parse_topic(topic: str) -> Topic:
    """Split a topic into its parts, or raise WireError."""
    match = _TOPIC_RE.match(topic)
    if not match:
        raise WireError(f"topic {topic!r} is not an EstateLink topic")
    channel = match["channel"] or match["single"]
    return Topic(match["estate"], match["gateway"], channel, match["name"])


# --- payloads ---------------------------------------------------------------------------------

def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset")
    return value.astimezone(timezone.utc)


AwareTime = Annotated[datetime, AfterValidator(_aware_utc)]
EntityId = Annotated[str, Field(pattern=ID_PATTERN)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(_Wire):
    """One event, as stored by central."""

    v: Literal[1] = 1
    id: uuid.UUID
    estate: EntityId
    gateway: EntityId
    seq: int = Field(ge=1)
    device: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Annotated[str, Field(pattern=KIND_PATTERN, max_length=64)]
    device_time: AwareTime | None = None
    received_at: AwareTime
    data: dict[str, Any]


class Batch(_Wire):
    """Events of one stream published in one MQTT message."""

    v: Literal[1] = 1
    estate: EntityId
    gateway: EntityId
    stream: str
    events: list[dict[str, Any]] = Field(min_length=1)


class Ack(_Wire):
    """Central's application-level ack: every sequence up to `acked` is stored."""

    v: Literal[1] = 1
    acked: int = Field(ge=0)


class Command(_Wire):
    """A command from central; a gateway refuses it once `expires_at` has passed."""

    v: Literal[1] = 1
    id: uuid.UUID
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    issuer: Annotated[str, Field(min_length=1, max_length=128)]
    issued_at: AwareTime
    expires_at: AwareTime
    args: dict[str, Any] = Field(default_factory=dict)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utc_now()) >= self.expires_at


class Reply(_Wire):
    """A gateway's answer to a command."""

    v: Literal[1] = 1
    command_id: uuid.UUID
    name: str
    status: Literal["ok", "refused", "expired", "failed", "unknown"]
    detail: str = ""
    at: AwareTime


class GatewayState(_Wire):
    """Retained on the state topic: the birth/heartbeat when online, the last will when offline."""

    v: Literal[1] = 1
    status: Literal["online", "offline"]
    at: AwareTime | None = None
    started_at: AwareTime | None = None
    config_version: str | None = None
    outbox: dict[str, Any] | None = None
    devices: dict[str, dict[str, Any]] | None = None
    access: dict[str, Any] | None = None
    """The credential cache: {"version": int, "checksum": hex, "last_synced_at": time|null}."""


def dumps(model: BaseModel | dict[str, Any]) -> bytes:
    """Serialise a wire model (or an already plain dict) to JSON bytes."""
    if isinstance(model, BaseModel):
        return orjson.dumps(model.model_dump(mode="json", exclude_none=False))
    return orjson.dumps(model)


def loads(model: type[BaseModel], payload: bytes | str) -> Any:
    """Parse and validate a payload, raising WireError with a readable reason."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise WireError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """A one-line summary of a pydantic error: location and message of the first few problems."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def envelope_dict(*, estate: str, gateway: str, seq: int, device: str, kind: str,
                  data: dict[str, Any], received_at: datetime,
                  device_time: datetime | None = None, event_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Build an envelope as a plain JSON-ready dict (the gateway's fast path, no validation)."""
    return {
        "v": WIRE_VERSION,
        "id": str(event_id or uuid.uuid4()),
        "estate": estate,
        "gateway": gateway,
        "seq": seq,
        "device": device,
        "kind": kind,
        "device_time": device_time.isoformat() if device_time else None,
        "received_at": received_at.isoformat(),
        "data": data,
    }
