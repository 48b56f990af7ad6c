"""The ingest service: subscribe, validate, store idempotently, ack, ask for replays, dead-letter the rest."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiomqtt
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.config import CentralConfig
from central.ingest.consumers import EventConsumer, default_consumers, run_consumers
from central.ingest.parse import Parsed, Rejected, check_topic_ids, event_row, parse_state, parse_uplink
from central.ingest.watermark import Watermark
from central.live import LiveFeed
from central.models import DeadLetter, Event, GatewayRecord
from estatelink import mqtt, wire

log = logging.getLogger("central.ingest")
REPLAY_COMMAND_TTL = timedelta(seconds=60)
GatewayKey = tuple[str, str]
StateListener = Callable[[wire.Topic, wire.GatewayState], None]
ReplyHandler = Callable[[wire.Topic, bytes], None]
EventListener = Callable[[list[dict[str, Any]]], None]


def first_of_each_seq(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (estate, gateway, seq), the first that arrived: the table keeps the first anyway, and the
    consoles and listeners must not see a sequence repeated within one batch (or group) twice."""
    seen: set[tuple[str, str, int]] = set()
    unique = []
    for row in rows:
        key = (row["estate"], row["gateway"], row["seq"])
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


class Ingest:
    """One MQTT connection feeding the events table."""

    def __init__(self, config: CentralConfig, engine: AsyncEngine,
                 consumers: dict[str, EventConsumer] | None = None) -> None:
        self.config = config
        self.engine = engine
        self.consumers = default_consumers() if consumers is None else consumers
        self.live: LiveFeed | None = None
        """Where committed events go for the consoles watching (set by the app)."""
        self.connected = asyncio.Event()
        self.counters: Counter[str] = Counter()
        self.state_listeners: list[StateListener] = []
        """Called with each gateway state once it is stored; they must not block (enqueue and return)."""
        self.reply_handlers: list[ReplyHandler] = []
        """Called with each command reply as it arrives; they must not block (enqueue and return)."""
        self.event_listeners: list[EventListener] = []
        """Called with the new (not redelivered) event rows once they are committed; they must not block."""
        self._client_now: aiomqtt.Client | None = None
        self._watermarks: dict[GatewayKey, Watermark] = {}
        self._queue: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert_events = dialect.insert(Event.__table__).on_conflict_do_nothing(
            index_elements=["estate", "gateway", "seq"])
        self._upsert_gateway = dialect.insert(GatewayRecord.__table__)

    async def run(self) -> None:
        """Stay connected to the broker and ingest, forever."""
        delay = 0.5
        while True:
            try:
                async with self._client() as client:
                    delay = 0.5
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                log.warning("broker connection lost: %s; retrying in %.1fs", group.exceptions[0], delay)
            except* Exception as group:  # a bug met in one group must not end ingest: nothing was acked, so
                # the gateways resend it, and a fresh session takes it in (or fails again, counted and logged)
                self.counters["session_failures"] += 1
                log.error("ingest stopped on an unexpected error; reconnecting in %.1fs", delay,
                          exc_info=group.exceptions[0])
            finally:
                self.connected.clear()
                self._client_now = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _client(self) -> aiomqtt.Client:
        cfg = self.config.broker
        return mqtt.persistent_client(
            cfg.host, cfg.port, client_id=cfg.client_id, protocol=cfg.protocol, session_expiry_s=24 * 3600,
            username=cfg.username, password=cfg.password.get_secret_value() if cfg.password else None,
            use_tls=cfg.use_tls, ca_file=cfg.ca_file, cert_file=cfg.cert_file, key_file=cfg.key_file,
            keepalive=30)

    async def _session(self, client: aiomqtt.Client) -> None:
        group = self.config.broker.shared_group
        for topic in wire.CENTRAL_SUBSCRIPTIONS:
            await client.subscribe(f"$share/{group}/{topic}" if group else topic, qos=1)
        self._client_now = client
        self.connected.set()
        log.info("ingest subscribed on %s:%d", self.config.broker.host, self.config.broker.port)
        self._queue = asyncio.Queue()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._receive(client))
            tasks.create_task(self._work(client))
            tasks.create_task(self._watch_gaps(client))

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._queue.put_nowait(message)

    async def _work(self, client: aiomqtt.Client) -> None:
        """Parse the next group of messages while the previous one commits; commits and acks stay in order."""
        limit = self.config.ingest.max_messages_per_commit
        committing: asyncio.Task[None] | None = None
        try:
            while True:
                messages = [await self._queue.get()]
                while len(messages) < limit and not self._queue.empty():
                    messages.append(self._queue.get_nowait())
                group = self._parse(messages)
                if committing is not None:
                    await self._settle(committing, len(messages))
                committing = asyncio.create_task(self._commit(client, *group))
        finally:
            if committing is not None and not committing.done():
                committing.cancel()

    async def _settle(self, committing: asyncio.Task[None], count: int) -> None:
        try:
            await committing
        except (SQLAlchemyError, OSError) as exc:  # nothing was acked: the gateways will resend
            self.counters["store_failures"] += 1
            log.error("could not store a group of messages (%s); waiting for resends", exc)
            await asyncio.sleep(1.0)

    def _parse(self, messages: list[aiomqtt.Message]) -> tuple[list[tuple[str, Parsed]],
                                                              list[tuple[wire.Topic, wire.GatewayState]],
                                                              list[tuple[str, Rejected]]]:
        parsed: list[tuple[str, Parsed]] = []
        states: list[tuple[wire.Topic, wire.GatewayState]] = []
        rejected: list[tuple[str, Rejected]] = []
        for message in messages:
            topic_text = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            try:
                topic = wire.parse_topic(topic_text)
                check_topic_ids(topic)
            except wire.WireError as exc:
                rejected.append((topic_text, Rejected(str(exc), payload=payload)))
                continue
            if topic.channel == "up":
                result = parse_uplink(topic, payload)
                parsed.append((topic_text, result))
                rejected.extend((topic_text, r) for r in result.rejected)
            elif topic.channel == "state":
                try:
                    states.append((topic, parse_state(payload)))
                except wire.WireError as exc:
                    rejected.append((topic_text, Rejected(f"bad gateway state: {exc}", topic.estate,
                                                          topic.gateway, payload=payload)))
            elif topic.channel == "reply":
                log.info("reply from %s/%s: %s", topic.estate, topic.gateway, payload[:500].decode(errors="replace"))
                self._notify(self.reply_handlers, topic, payload)
        return parsed, states, rejected

    async def _commit(self, client: aiomqtt.Client, parsed: list[tuple[str, Parsed]],
                      states: list[tuple[wire.Topic, wire.GatewayState]],
                      rejected: list[tuple[str, Rejected]]) -> None:
        now = wire.utc_now()
        settled: dict[GatewayKey, set[int]] = {}
        rows = []
        for _, result in parsed:
            if result.estate is None:
                continue
            key = (result.estate, result.gateway)
            settled.setdefault(key, set()).update(result.accounted())
            rows.extend(event_row(event, now) for event in result.events)
        rows = first_of_each_seq(rows)
        async with self.engine.begin() as conn:
            for key in settled:
                await self._load_watermark(conn, key)
            fresh = [r for r in rows if r["seq"] > self._watermarks[(r["estate"], r["gateway"])].acked]
            if rows:
                await conn.execute(self._insert_events, rows)
                await run_consumers(conn, self.consumers, rows, self.counters)
            if rejected:
                await conn.execute(DeadLetter.__table__.insert(), [self._dead_letter(t, r, now) for t, r in rejected])
            for (estate, gateway), seqs in settled.items():
                acked = self._watermarks[(estate, gateway)].advanced_by(seqs)
                await self._save_gateway(conn, estate, gateway, acked_seq=acked)
            for topic, state in states:
                await self._save_gateway(conn, topic.estate, topic.gateway, status=state.status,
                                         state=state.model_dump(mode="json"), state_at=now)
        self.counters["events_received"] += len(rows)
        for topic, state in states:
            self._notify(self.state_listeners, topic, state)
        if self.live is not None:
            self.live.publish(fresh)
        if fresh:
            for listener in self.event_listeners:
                try:
                    listener(fresh)
                except Exception:  # another module's bug must not stop ingest
                    log.exception("an event listener failed")
        self.counters["dead_lettered"] += len(rejected)
        for topic_text, r in rejected:
            log.warning("dead-lettered a message on %s: %s", topic_text, r.reason)
        clock = time.monotonic()
        for key, seqs in settled.items():
            mark = self._watermarks[key]
            had_duplicates = any(s <= mark.acked for s in seqs)
            if mark.settle(seqs, clock) or had_duplicates:
                await client.publish(wire.ack_topic(*key), wire.dumps(wire.Ack(acked=mark.acked)), qos=1, retain=True)
                self.counters["acks_sent"] += 1

    def _notify(self, handlers: list[Callable[[wire.Topic, Any], None]], topic: wire.Topic, message: Any) -> None:
        for handler in handlers:
            try:
                handler(topic, message)
            except Exception:  # another module's bug must not stop ingest
                self.counters["handler_failures"] += 1
                log.exception("a %s handler failed", topic.channel)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Publish on ingest's broker connection (other modules' commands); MqttError while disconnected."""
        client = self._client_now
        if client is None:
            raise aiomqtt.MqttError("central is not connected to the broker")
        await client.publish(topic, payload, qos=qos)

    async def _load_watermark(self, conn: AsyncConnection, key: GatewayKey) -> None:
        if key in self._watermarks:
            return
        acked = await conn.scalar(select(GatewayRecord.acked_seq).where(
            GatewayRecord.estate == key[0], GatewayRecord.gateway == key[1]))
        self._watermarks[key] = Watermark(acked=acked or 0)

    async def _save_gateway(self, conn: AsyncConnection, estate: str, gateway: str, **values: Any) -> None:
        defaults = {"acked_seq": 0, "status": "unknown", "state": None, "state_at": None}
        stmt = self._upsert_gateway.values(estate=estate, gateway=gateway, **{**defaults, **values})
        await conn.execute(stmt.on_conflict_do_update(index_elements=["estate", "gateway"], set_=values))

    def _dead_letter(self, topic: str, rejected: Rejected, now: Any) -> dict[str, Any]:
        keep = self.config.ingest.dead_letter_payload_bytes
        return {"received_at": now, "topic": topic, "estate": rejected.estate, "gateway": rejected.gateway,
                "seq": rejected.seq, "reason": rejected.reason, "payload_size": len(rejected.payload),
                "payload": rejected.payload[:keep]}

    async def _watch_gaps(self, client: aiomqtt.Client) -> None:
        grace = self.config.ingest.gap_grace_s
        while True:
            await asyncio.sleep(min(1.0, grace / 2))
            now = time.monotonic()
            for (estate, gateway), mark in list(self._watermarks.items()):
                if mark.gap_since is None or now - mark.gap_since < grace:
                    continue
                if now - mark.last_replay_request < grace:
                    continue
                mark.last_replay_request = now
                await self._request_replay(client, estate, gateway, mark.missing_ranges())

    async def _request_replay(self, client: aiomqtt.Client, estate: str, gateway: str,
                              ranges: list[tuple[int, int]]) -> None:
        if not ranges:
            return
        issued = wire.utc_now()
        command = wire.Command(id=uuid.uuid4(), name="replay", issuer="central/ingest", issued_at=issued,
                               expires_at=issued + REPLAY_COMMAND_TTL, args={"ranges": [list(r) for r in ranges]})
        await client.publish(wire.command_topic(estate, gateway, "replay"), wire.dumps(command), qos=1)
        self.counters["replays_requested"] += 1
        log.info("asked %s/%s to replay %s", estate, gateway, ranges[:3])
