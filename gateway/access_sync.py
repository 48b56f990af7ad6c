"""Keeping the credential cache in step with central: the access_delta, access_snapshot and access_current
commands (docs/wire.md, "Access: cache sync and door commands"), and the cache's line in the heartbeat.

Every write to the cache file runs on one thread (CacheWriter), in the order it was asked for, so a snapshot
of 100,000 cards never stalls the event loop that decides taps, and SQLite's one connection is never used by
two threads at once. Decisions keep reading the in-memory index, which the cache swaps whole after a commit.

Ordering: the uplink hands commands to the CommandRouter one at a time, in the order the broker delivers
them, and awaits each handler before reading the next message. These handlers return only once the cache
has committed, so a door_open (or anything else) queued behind a delta runs after the delta is applied, and
a card revoked while the gateway was offline is denied from the moment the queued delta has been read.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from estatelink import wire
from estatelink.access_records import KINDS
from gateway.access import AccessCache, CacheStorageError, OfflinePolicy, VersionMismatch
from gateway.commands import CommandRouter, Refused

log = logging.getLogger("gateway.access")
T = TypeVar("T")
MAX_SNAPSHOT_PARTS = 1000
"""Central fills a part with up to 2,000 credentials and about 1 MiB: 1,000 parts is a 2-million-card estate."""
MISSING_PARTS_SHOWN = 5
SYNC_MAX_LIFETIME = timedelta(hours=24)
"""The longest a sync command may live: central issues them for 24 h (central.access.sync.SYNC_TTL)."""


def open_cache(path: Path, policy: OfflinePolicy) -> AccessCache:
    """Open the cache; an unreadable file is moved aside and an empty cache started (central resends it all)."""
    try:
        return AccessCache(path, offline_policy=policy)
    except CacheStorageError as exc:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        log.error("%s; moved to %s, starting from an empty cache until central sends a snapshot", exc, aside)
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        return AccessCache(path, offline_policy=policy)


def settle_heap(*, collect: bool = False) -> None:
    """Move what is alive now (above all the cache's credentials) out of the garbage collector's way."""
    # A full collection walks every tracked object: with 100,000 credentials that stalls the loop 100-200 ms,
    # and draining a backlog triggers them. Frozen objects are skipped by collections and still freed by their
    # reference counts, which is how the records (acyclic, replaced whole by a sync) go. `collect` first clears
    # the garbage of loading, so it is not frozen with the rest.
    if collect:
        gc.collect()
    gc.freeze()


class CacheWriter:
    """Runs every cache write on one dedicated thread, in submission order."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="access-cache")

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn on the writer thread and wait for it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue fn without waiting; a failure is logged (the in-memory state already holds it)."""
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError:  # the gateway is stopping: the cache is closed, the memory state is what counts
            log.warning("access cache closed; %s not written", getattr(fn, "__name__", fn))
            return
        future.add_done_callback(_log_failure)

    def close(self, last: Callable[[], Any] | None = None) -> None:
        """Finish what is queued, run `last` (closing the cache) on the thread, and stop."""
        if last is not None:
            self._executor.submit(last)
        self._executor.shutdown(wait=True)


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("access cache write failed: %s", future.exception())


@dataclass
class _Staged:
    parts: int
    records: dict[int, dict[str, list[Any]]] = field(default_factory=dict)


def _int_arg(args: dict[str, Any], name: str, low: int, high: int | None = None) -> int:
    value = args.get(name)
    if type(value) is not int or value < low or (high is not None and value > high):
        bounds = f"of at least {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"args.{name} must be an integer {bounds}, got {value!r}")
    return value


def _missing_parts(staged: _Staged) -> str | None:
    """'lacks N of its M part(s) (first missing: 1, 2, ...)', or None when every part was received."""
    missing = [number for number in range(1, staged.parts + 1) if number not in staged.records]
    if not missing:
        return None
    first = ", ".join(str(number) for number in missing[:MISSING_PARTS_SHOWN])
    return f"lacks {len(missing)} of its {staged.parts} part(s) (first missing: {first})"


class AccessSync:
    """The cache-sync command handlers and the heartbeat's `access` field."""

    def __init__(self, cache: AccessCache, writer: CacheWriter) -> None:
        self.cache = cache
        self.writer = writer
        self._staged: dict[int, _Staged] = {}
        self._checksum: str | None = None

    def register(self, router: CommandRouter) -> None:
        """Handle access_delta, access_snapshot and access_current."""
        router.register("access_delta", self.on_delta, max_lifetime=SYNC_MAX_LIFETIME)
        router.register("access_snapshot", self.on_snapshot, max_lifetime=SYNC_MAX_LIFETIME)
        router.register("access_current", self.on_current, max_lifetime=SYNC_MAX_LIFETIME)

    async def state(self) -> dict[str, Any]:
        """{version, checksum, last_synced_at}: what the heartbeat reports of the cache."""
        if self._checksum is None:  # computed once per change, on the writer thread, when first asked for
            self._checksum = await self.writer.call(self.cache.checksum)
        synced = self.cache.last_synced_at
        return {"version": self.cache.version, "checksum": self._checksum,
                "last_synced_at": synced.isoformat() if synced else None}

    async def on_delta(self, command: wire.Command) -> str:
        """Apply a delta if it starts at our version; refused 'at version N' otherwise."""
        try:
            await self.writer.call(self.cache.apply_delta, command.args, synced_at=wire.utc_now())
        except VersionMismatch:
            raise Refused(f"at version {self.cache.version}") from None
        self._checksum = command.args.get("checksum")
        settle_heap()
        log.info("access cache at version %d (delta from %s)", self.cache.version, command.args.get("from_version"))
        return f"version {self.cache.version}"

    async def on_current(self, command: wire.Command) -> str:
        """Central says our version is current: restart the offline-too-long clock."""
        version = _int_arg(command.args, "version", 0)
        try:
            await self.writer.call(self.cache.mark_synced, version, wire.utc_now())
        except VersionMismatch:
            raise Refused(f"at version {self.cache.version}") from None
        return f"version {version}"

    async def on_snapshot(self, command: wire.Command) -> str:
        """Stage one part; on the last, replace the whole cache if the records hash to the checksum."""
        args = command.args
        version, parts = _int_arg(args, "version", 0), _int_arg(args, "parts", 1, MAX_SNAPSHOT_PARTS)
        part = _int_arg(args, "part", 1)
        records = args.get("records")
        if part > parts:
            raise ValueError(f"args.part {part} is beyond args.parts {parts}")
        if not isinstance(records, dict) or not all(isinstance(items, list) for items in records.values()):
            raise ValueError("args.records must be an object of kind -> list of records")
        staged = self._staged.get(version)
        if staged is None or staged.parts != parts:
            self._staged = {version: _Staged(parts)}  # a newer snapshot supersedes any half-received one
            staged = self._staged[version]
        staged.records[part] = records
        if part < parts:
            return f"part {part}/{parts}"
        del self._staged[version]
        missing = _missing_parts(staged)
        if missing is not None:
            raise RuntimeError(f"snapshot version {version} {missing}; the cache is unchanged at version "
                               f"{self.cache.version}")
        merged: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        for number in range(1, parts + 1):
            for kind, items in staged.records[number].items():
                merged.setdefault(kind, []).extend(items)
        snapshot = {"version": version, "checksum": args.get("checksum"), "records": merged,
                    "used_passes": args.get("used_passes", [])}
        count = len(merged.get("credentials", []))
        await self.writer.call(self.cache.replace_all, snapshot, synced_at=wire.utc_now())
        self._checksum = snapshot["checksum"]
        del merged, snapshot, staged
        settle_heap()  # not a full collection here: walking 100,000 new records would itself stall the loop
        log.info("access cache replaced by snapshot version %d (%d credentials)", version, count)
        return f"part {parts}/{parts}: version {version}"
