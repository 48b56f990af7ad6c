"""Keeping every gateway's credential cache in step with central (docs/wire.md, "Access: cache sync").

One worker task handles, in arrival order: changes committed by the API (`changed`: publish that version's
delta to every gateway of the estate at once, so a lost card is denied within seconds), gateway states
(`on_state`: a gateway behind gets the delta from its version, or a snapshot when the log no longer reaches
back, the delta would not fit one message, the gateway is ahead, or its checksum disagrees at our version;
one that is current but was last confirmed long ago gets `access_current`), and replies (`on_reply`: a delta
refused "at version N" or failed gets a snapshot; a door_open's result is stored). `on_state` and `on_reply`
are called by ingest and only enqueue, so ingest never waits for the access module.

Commands go out through ingest's MQTT connection (`publish`), QoS 1, to persistent sessions: what is sent to
an offline gateway is delivered in order when it reconnects.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from central.access import changelog, remote
from central.access.events import used_pass_estates
from central.access.models import Door, GatewayAccessState
from central.models import GatewayRecord
from estatelink import wire

log = logging.getLogger("central.access.sync")
Publish = Callable[[str, bytes], Awaitable[None]]
GatewayKey = tuple[str, str]

ISSUER = "central/access"
SYNC_TTL = timedelta(hours=24)
"""Deltas and snapshots stay valid as long as the broker keeps an offline gateway's session."""
CONFIRM_AFTER = timedelta(hours=1)
"""A current gateway last confirmed longer ago than this gets `access_current` (its offline clock restarts)."""
RESEND_AFTER_S = 15.0
"""What was sent to a gateway is not sent again for this long, whatever its (maybe stale) state says."""
_AT_VERSION = re.compile(r"\bat version (\d+)\b")
SYNC_COMMANDS = frozenset({"access_delta", "access_snapshot", "access_current"})


class AccessSync:
    """The access module's MQTT side: publishes deltas and snapshots, reads states and replies."""

    def __init__(self, engine: AsyncEngine, publish: Publish) -> None:
        self.engine = engine
        self._publish = publish
        self._jobs: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self._sent: dict[GatewayKey, tuple[str, int, float]] = {}
        self._checksums: dict[str, tuple[int, str]] = {}
        self._published: dict[str, int] = {}
        self.counters: Counter[str] = Counter()

    # --- what others call (never blocks) ------------------------------------------------------------------

    def changed(self, estate: str, version: int) -> None:
        """A change to the estate's records committed at `version`: publish it."""
        self._jobs.put_nowait(("changed", (estate, version)))

    def on_state(self, topic: wire.Topic, state: wire.GatewayState) -> None:
        """Ingest stored a gateway's state."""
        self._jobs.put_nowait(("state", (topic.estate, topic.gateway, state)))

    def on_reply(self, topic: wire.Topic, payload: bytes) -> None:
        """A gateway replied to a command."""
        self._jobs.put_nowait(("reply", (topic.estate, topic.gateway, payload)))

    def on_events(self, rows: list[dict[str, Any]]) -> None:
        """Ingest committed events: a single-use pass used at one gateway goes to the estate's others."""
        for estate in used_pass_estates(rows):
            self._jobs.put_nowait(("latest", (estate,)))

    async def drain(self) -> None:
        """Wait until everything queued so far is handled (for tests and shutdown)."""
        await self._jobs.join()

    async def run(self) -> None:
        """Handle jobs one at a time, forever; a failing job is logged and counted, never fatal."""
        handlers = {"changed": self._changed, "latest": self._latest, "state": self._state, "reply": self._reply}
        while True:
            kind, args = await self._jobs.get()
            try:
                await handlers[kind](*args)
            except Exception as exc:  # the worker outlives any one bad message or outage
                self.counters[f"{kind}_failures"] += 1
                log.error("access sync could not handle a %s (%s): %s", kind, args[:2], exc,
                          exc_info=not isinstance(exc, OSError))
            finally:
                self._jobs.task_done()

    # --- changes ------------------------------------------------------------------------------------------

    async def _changed(self, estate: str, version: int) -> None:
        published = self._published.get(estate, version - 1)
        if version <= published:
            return  # published already: an operation that changed nothing reports the version it found
        self._published[estate] = version
        async with self.engine.connect() as conn:
            # from the last version published, so a change whose request was slower to announce is not lost
            args = (await changelog.delta(conn, estate, published, version)
                    or await changelog.delta(conn, estate, version - 1, version))
            gateways = await gateways_of(conn, estate)
        if args is None:
            return
        # not remembered as sent: a gateway not listening yet must still get it when its state comes in
        results = await asyncio.gather(*(self._send_delta(estate, gateway, args, remember=False)
                                         for gateway in gateways), return_exceptions=True)
        for gateway, result in zip(gateways, results, strict=True):
            if isinstance(result, Exception):  # its next heartbeat shows it behind, and it catches up then
                self.counters["publish_failures"] += 1
                log.warning("could not send version %d of %s to %s: %s", version, estate, gateway, result)

    async def _latest(self, estate: str) -> None:
        """Publish whatever the estate's log holds beyond what was published (written by ingest, not the API)."""
        async with self.engine.connect() as conn:
            version, _ = await changelog.versions(conn, estate)
        await self._changed(estate, version)

    async def _send_delta(self, estate: str, gateway: str, args: dict[str, Any], *, remember: bool = True) -> None:
        _, _, payload = remote.command("access_delta", args, ISSUER, SYNC_TTL)
        if len(payload) > wire.MAX_PAYLOAD_BYTES:
            await self.send_snapshot(estate, gateway, "the delta would not fit one message")
            return
        await self._send(estate, gateway, "access_delta", args["to_version"], payload, remember=remember)

    # --- gateway states -----------------------------------------------------------------------------------

    async def _state(self, estate: str, gateway: str, state: wire.GatewayState) -> None:
        access = state.access
        if state.status != "online" or access is None:
            return
        version, checksum, synced = access.get("version"), access.get("checksum"), _time(access.get("last_synced_at"))
        if type(version) is not int or version < 0 or not isinstance(checksum, str):
            self.counters["bad_states"] += 1
            log.warning("%s/%s reports an unreadable access cache state %r", estate, gateway, access)
            return
        await self._save(estate, gateway, reported_version=version, reported_checksum=checksum[:64],
                         reported_synced_at=synced, reported_at=wire.utc_now())
        current, current_sum = await self.current(estate)
        if version > current:
            await self.send_snapshot(estate, gateway, f"the gateway is at version {version}, ahead of {current}")
        elif version < current:
            await self._catch_up(estate, gateway, version, current)
        elif checksum != current_sum:
            await self.send_snapshot(estate, gateway, f"its checksum at version {version} differs from central's")
        elif synced is None or wire.utc_now() - synced > CONFIRM_AFTER:
            if not self._recently_sent(estate, gateway, "access_current", current):
                _, _, payload = remote.command("access_current", {"version": current}, ISSUER, SYNC_TTL)
                await self._send(estate, gateway, "access_current", current, payload)

    async def _catch_up(self, estate: str, gateway: str, version: int, current: int) -> None:
        if self._recently_sent(estate, gateway, None, current):
            return
        async with self.engine.connect() as conn:
            args = await changelog.delta(conn, estate, version, current)
        if args is None:
            await self.send_snapshot(estate, gateway, f"the change log no longer reaches back to version {version}")
        else:
            await self._send_delta(estate, gateway, args)

    # --- replies ------------------------------------------------------------------------------------------

    async def _reply(self, estate: str, gateway: str, payload: bytes) -> None:
        try:
            reply = wire.loads(wire.Reply, payload)
        except wire.WireError as exc:
            self.counters["bad_replies"] += 1
            log.warning("unreadable reply from %s/%s: %s", estate, gateway, exc)
            return
        if reply.name == "door_open":
            async with self.engine.begin() as conn:
                if await remote.record_reply(conn, reply) is None:
                    log.info("reply to door_open %s from %s/%s matches no remote open", reply.command_id,
                             estate, gateway)
            return
        if reply.name not in SYNC_COMMANDS:
            return
        await self._save(estate, gateway, reply_status=reply.status, reply_detail=reply.detail[:256],
                         reply_at=reply.at)
        if reply.status in ("refused", "failed"):
            found = _AT_VERSION.search(reply.detail)
            current, _ = await self.current(estate)
            if reply.name == "access_snapshot":
                self.counters["snapshots_failed"] += 1
                log.error("%s/%s could not load snapshot: %s", estate, gateway, reply.detail)
            elif found is None or int(found.group(1)) != current:
                # not forced: deltas queued behind the first refused one are refused too, one snapshot does
                await self.send_snapshot(estate, gateway, f"{reply.name} {reply.status}: {reply.detail}"[:200])

    # --- sending ------------------------------------------------------------------------------------------

    async def send_snapshot(self, estate: str, gateway: str, reason: str, *, force: bool = False) -> int:
        """Send the estate's whole records to one gateway, in parts; returns the version (skips a repeat)."""
        async with self.engine.connect() as conn:
            snap = await changelog.snapshot(conn, estate)
        if not force and self._recently_sent(estate, gateway, "access_snapshot", snap.version):
            return snap.version
        log.info("snapshot of %s at version %d to %s (%d part(s)): %s", estate, snap.version, gateway,
                 len(snap.parts), reason)
        for number, part in enumerate(snap.parts, start=1):
            args: dict[str, Any] = {"version": snap.version, "part": number, "parts": len(snap.parts),
                                    "records": {kind: [orjson.Fragment(body) for body in bodies]
                                                for kind, bodies in part.items()}}
            if number == len(snap.parts):
                args["checksum"] = snap.checksum
                args["used_passes"] = [orjson.Fragment(body) for body in snap.used_passes]
            _, _, payload = remote.command("access_snapshot", args, ISSUER, SYNC_TTL)
            await self._send(estate, gateway, "access_snapshot", snap.version, payload)
        return snap.version

    async def resync(self, estate: str) -> dict[str, int]:
        """A snapshot to every gateway of the estate, now: {gateway: version sent}."""
        async with self.engine.connect() as conn:
            gateways = await gateways_of(conn, estate)
        return {gateway: await self.send_snapshot(estate, gateway, "asked for by an operator", force=True)
                for gateway in gateways}

    async def publish_command(self, estate: str, gateway: str, name: str, payload: bytes) -> None:
        """Publish a prepared command to one gateway (door_open)."""
        await self._publish(wire.command_topic(estate, gateway, name), payload)
        self.counters[f"sent_{name}"] += 1

    async def _send(self, estate: str, gateway: str, name: str, version: int, payload: bytes, *,
                    remember: bool = True) -> None:
        await self.publish_command(estate, gateway, name, payload)
        if remember:
            self._sent[(estate, gateway)] = (name, version, time.monotonic())
        await self._save(estate, gateway, sent_kind=name.removeprefix("access_"), sent_version=version,
                         sent_at=wire.utc_now())

    def _recently_sent(self, estate: str, gateway: str, name: str | None, version: int) -> bool:
        sent = self._sent.get((estate, gateway))
        return (sent is not None and (name is None or sent[0] == name) and sent[1] >= version
                and time.monotonic() - sent[2] < RESEND_AFTER_S)

    async def current(self, estate: str) -> tuple[int, str]:
        """(version, checksum) of the estate now; the checksum is computed once per version."""
        async with self.engine.connect() as conn:
            version = (await changelog.versions(conn, estate))[0]
            cached = self._checksums.get(estate)
            if cached is not None and cached[0] == version:
                return cached
            found = await changelog.state(conn, estate)
        self._checksums[estate] = found
        return found

    async def _save(self, estate: str, gateway: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(GatewayAccessState).values(estate=estate, gateway=gateway, **values)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["estate", "gateway"], set_=values))


async def gateways_of(conn: Any, estate: str) -> list[str]:
    """Every gateway of the estate: those that reported to central and those that drive its doors."""
    stmt = union(select(GatewayRecord.gateway).where(GatewayRecord.estate == estate),
                 select(Door.gateway).where(Door.estate == estate))
    return sorted((await conn.execute(stmt)).scalars())


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


SYNC = web.AppKey("access_sync", AccessSync)
"""Where the app keeps its AccessSync for the routes."""
