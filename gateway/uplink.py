"""The uplink: batches from the outbox to the broker, live events ahead of backlog, until central acks them.

Delivery is go-back-N over MQTT QoS 1. On every (re)connect, and whenever central's ack stops advancing
for `ack_timeout_s`, the uplink starts again from the last acked sequence: central stores idempotently, so
a resend costs bandwidth, never a duplicate. A broker PUBACK means nothing here; only central's ack does.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiomqtt
import orjson

from edge_config import GatewayConfig
from estatelink import mqtt, wire
from gateway.capture import AsyncOutbox
from gateway.commands import CommandRouter
from gateway.outbox import TOMBSTONE_KIND, Captured

log = logging.getLogger("gateway.uplink")
SESSION_EXPIRY_S = 7 * 24 * 3600
LIVE_QUEUE_LIMIT = 20_000
REPLAY_MAX_LIFETIME = timedelta(minutes=10)
"""The longest a replay may live: central issues it for 60 s (central.ingest.service.REPLAY_COMMAND_TTL)."""


def _last_seq(item: Captured) -> int:
    """The highest sequence an item accounts for: a tombstone stands for a whole run."""
    if item.stream == "system" and TOMBSTONE_KIND.encode() in item.body:
        envelope = orjson.loads(item.body)
        if envelope.get("kind") == TOMBSTONE_KIND:
            return int(envelope["data"]["to_seq"])
    return item.seq


class Uplink:
    """Owns the MQTT connection of one gateway."""

    def __init__(self, config: GatewayConfig, outbox: AsyncOutbox, commands: CommandRouter,
                 state: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self.config = config
        self.cfg = config.uplink
        self.outbox = outbox
        self.commands = commands
        self._state = state
        self.estate, self.gateway = config.estate.id, config.gateway.id
        self.connected = asyncio.Event()
        self.window = self.cfg.batch_max_events * 20
        self._live: deque[Captured] = deque()
        self._live_overflowed = False
        self._wake = asyncio.Event()
        self._acked_changed = asyncio.Event()
        self._cursor = 0
        self._backlog_end = 0
        self._sent_max = 0
        self._rewinds = 0
        """Bumped whenever the cursor is moved back (reconnect, ack stall, replay) under a batch in flight."""
        self._last_progress = time.monotonic()
        self.published_batches = 0
        self.published_events = 0
        self.resends = 0
        commands.register("replay", self._on_replay, max_lifetime=REPLAY_MAX_LIFETIME)

    # --- called by the gateway ------------------------------------------------------------

    def offer_live(self, captured: list[Captured]) -> None:
        """New events, just committed: send them ahead of the backlog if connected."""
        if not self.connected.is_set() or self._live_overflowed:
            return
        self._live.extend(captured)
        if len(self._live) > LIVE_QUEUE_LIMIT:
            self._live.clear()
            self._live_overflowed = True  # they are on disk: the backlog lane will carry them
        self._wake.set()

    async def run(self) -> None:
        """Connect, deliver, and reconnect with jittered backoff, forever."""
        delay = self.cfg.reconnect_min_s
        while True:
            up_since: float | None = None
            try:
                async with self._client() as client:
                    up_since = time.monotonic()
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                log.warning("uplink to %s lost: %s; retrying in %.1fs", self.cfg.broker, group.exceptions[0], delay)
            except* Exception as group:  # the uplink must never take capture and the doors down with it
                log.error("uplink failed: %r; reconnecting in %.1fs", group.exceptions[0], delay,
                          exc_info=group.exceptions[0])
            finally:
                self.connected.clear()
            if up_since is not None and time.monotonic() - up_since >= self.cfg.reconnect_max_s:
                delay = self.cfg.reconnect_min_s  # it had held: a fresh loss starts the backoff again
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.cfg.reconnect_max_s)

    # --- the connection ---------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        offline = wire.dumps(wire.GatewayState(status="offline", config_version=self.config.config_version))
        will = aiomqtt.Will(wire.state_topic(self.estate, self.gateway), offline, qos=1, retain=True)
        tls = self.cfg.tls
        return mqtt.persistent_client(
            self.cfg.host, self.cfg.port, client_id=self.cfg.client_id, protocol=self.cfg.protocol,
            session_expiry_s=SESSION_EXPIRY_S, username=self.cfg.username or None,
            password=self.cfg.resolved_password(), use_tls=self.cfg.use_tls,
            ca_file=tls.ca_file if tls else None, cert_file=tls.cert_file if tls else None,
            key_file=tls.key_file if tls else None,
            will=will, keepalive=self.cfg.keepalive_s, max_inflight_messages=100)

    async def _session(self, client: aiomqtt.Client) -> None:
        prefix = wire.gateway_prefix(self.estate, self.gateway)
        await client.subscribe(f"{prefix}/ack", qos=1)
        await client.subscribe(f"{prefix}/down/+", qos=1)
        await self._publish_state(client)
        self._restart_from_acked()
        self.connected.set()
        log.info("uplink connected to %s as %s", self.cfg.broker, self.cfg.client_id)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._receive(client))
            tasks.create_task(self._send(client))
            tasks.create_task(self._heartbeat(client))

    def _restart_from_acked(self) -> None:
        self._live.clear()
        self._live_overflowed = False
        self._cursor = self.outbox.outbox.acked
        self._rewinds += 1
        self._sent_max = self.outbox.outbox.acked
        self._backlog_end = self.outbox.outbox.next_seq
        self._last_progress = time.monotonic()
        self._wake.set()

    async def _publish_state(self, client: aiomqtt.Client) -> None:
        state = wire.GatewayState(status="online", at=wire.utc_now(), **await self._state())
        await client.publish(wire.state_topic(self.estate, self.gateway), wire.dumps(state), qos=1, retain=True)

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat_s)
            await self._publish_state(client)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            if topic.endswith("/ack"):
                await self._on_ack(payload)
            else:
                reply = await self.commands.handle(topic.rsplit("/", 1)[-1], payload)
                if reply is not None:
                    await client.publish(wire.reply_topic(self.estate, self.gateway), wire.dumps(reply), qos=1)

    async def _on_ack(self, payload: bytes) -> None:
        try:
            acked = wire.loads(wire.Ack, payload).acked
        except wire.WireError as exc:
            log.warning("ignoring malformed ack: %s", exc)
            return
        box = self.outbox.outbox
        if acked > box.sent:
            log.error("central holds sequence %d but this outbox never sent beyond %d: the outbox was lost or "
                      "replaced; renumbering its unsent events after %d so none is mistaken for a duplicate",
                      acked, box.sent, acked)
            await self.outbox.call(box.fast_forward, acked)
            self._restart_from_acked()
        if acked > box.acked:
            await self.outbox.call(box.ack, acked)
            self._last_progress = time.monotonic()
            self._acked_changed.set()
            self._wake.set()

    async def _on_replay(self, command: wire.Command) -> str:
        ranges = command.args.get("ranges") or []
        starts = [int(r[0]) for r in ranges if isinstance(r, list | tuple) and len(r) == 2]
        ends = [int(r[1]) for r in ranges if isinstance(r, list | tuple) and len(r) == 2]
        if not starts:
            raise ValueError("replay needs ranges [[from, to], ...]")
        self._cursor = max(self.outbox.outbox.acked, min(self._cursor, min(starts) - 1))
        self._rewinds += 1
        # numbers from next_seq on are not written yet: they will travel in the live lane, not twice
        self._backlog_end = max(self._backlog_end, min(max(ends) + 1, self.outbox.outbox.next_seq))
        self.resends += 1
        self._wake.set()
        return f"replaying from {self._cursor + 1}"

    # --- sending -----------------------------------------------------------------------------

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            if self._ack_overdue():
                log.info("no ack progress for %.1fs: resending from %d", self.cfg.ack_timeout_s,
                         self.outbox.outbox.acked + 1)
                self.resends += 1
                self._restart_from_acked()
            if self._live:
                await self._send_live(client)
                continue
            if self._live_overflowed:
                self._backlog_end = self.outbox.outbox.next_seq
                self._live_overflowed = False
            if self._cursor + 1 < self._backlog_end and self._cursor - self.outbox.outbox.acked < self.window:
                await self._send_backlog(client)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.cfg.ack_timeout_s / 2)
            except TimeoutError:
                pass

    def _ack_overdue(self) -> bool:
        box = self.outbox.outbox
        waiting = box.acked < self._sent_max  # backlog or live lane: something published is still unacked
        return waiting and time.monotonic() - self._last_progress > self.cfg.ack_timeout_s

    async def _send_live(self, client: aiomqtt.Client) -> None:
        if len(self._live) < self.cfg.batch_max_events and self.cfg.linger_ms:
            await asyncio.sleep(self.cfg.linger_ms / 1000)
        items = [self._live.popleft() for _ in range(min(len(self._live), self.cfg.batch_max_events))]
        await self._publish_grouped(client, items)

    async def _send_backlog(self, client: aiomqtt.Client) -> None:
        rewinds = self._rewinds
        rows = await self.outbox.call(self.outbox.outbox.read_after, self._cursor,
                                      below=self._backlog_end, limit=self.cfg.batch_max_events)
        if not rows:
            if rewinds == self._rewinds:
                self._cursor = max(self._cursor, self._backlog_end - 1)
            return
        await self._publish_grouped(client, rows)
        if rewinds == self._rewinds:  # a replay or restart that moved the cursor meanwhile must keep its place
            self._cursor = rows[-1].seq

    async def _publish_grouped(self, client: aiomqtt.Client, items: list[Captured]) -> None:
        top = max(_last_seq(item) for item in items)
        if top > self.outbox.outbox.sent:  # on disk before it leaves: an ack above `sent` means a lost outbox
            await self.outbox.call(self.outbox.outbox.mark_sent, top)
        self._sent_max = max(self._sent_max, top)
        by_stream: dict[str, list[bytes]] = defaultdict(list)
        for item in items:
            by_stream[item.stream].append(item.body)
        for stream in sorted(by_stream, key=wire.stream_priority):
            for payload in self._batches(stream, by_stream[stream]):
                await client.publish(wire.uplink_topic(self.estate, self.gateway, stream), payload, qos=1)
                self.published_batches += 1
        self.published_events += len(items)

    def _batches(self, stream: str, bodies: list[bytes]) -> list[bytes]:
        head = (b'{"v":1,"estate":"%s","gateway":"%s","stream":"%s","events":['
                % (self.estate.encode(), self.gateway.encode(), stream.encode()))
        limit = min(self.cfg.batch_max_bytes, wire.MAX_PAYLOAD_BYTES) - len(head) - 2
        batches, current, size = [], [], 0
        for body in bodies:
            if current and size + len(body) + 1 > limit:
                batches.append(head + b",".join(current) + b"]}")
                current, size = [], 0
            current.append(body)
            size += len(body) + 1
        if current:
            batches.append(head + b",".join(current) + b"]}")
        return batches
