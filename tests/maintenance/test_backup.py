"""`estatelink central backup` and `restore` round-trip the records, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import subprocess
import sys

from sqlalchemy import func, insert, select

from central.auth import service
from central.auth.models import AuditEntry, User
from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.db import create_engine, migrate
from central.models import Event
from estatelink import wire
from tests.support.services import REPO


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estatelink.cli", "--log-level", "WARNING", "central",
                           "--database-url", database_url, *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


async def snapshot(url: str) -> dict:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                "users": sorted((await conn.execute(select(User.username, User.role))).all()),
                "events": sorted((await conn.execute(select(Event.seq, Event.data))).all(), key=lambda r: r[0]),
                "audit": (await conn.execute(select(func.count()).select_from(AuditEntry))).scalar(),
            }
    finally:
        await engine.dispose()


async def seed(url: str, usernames: list[str], events: range) -> None:
    await migrate(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for name in usernames:
                await service.create_user(conn, SYSTEM, service.NewUser(name, "Long-enough-pass-1", Role.GUARD,
                                                                        frozenset({"demo"})))
            now = wire.utc_now()
            if events:
                await conn.execute(insert(Event), [
                    {"uuid": f"00000000-0000-0000-0000-{s:012d}", "estate": "demo", "gateway": "gate-1", "seq": s,
                     "device": "reader", "kind": "card.read", "received_at": now, "stored_at": now,
                     "data": {"card": f"{s:010X}"}} for s in events])
    finally:
        await engine.dispose()


def test_backup_then_restore_brings_back_exactly_what_was_there(database_url, tmp_path):
    asyncio.run(seed(database_url, ["guard-a", "guard-b"], range(1, 101)))
    before = asyncio.run(snapshot(database_url))
    done = cli(database_url, "backup", str(tmp_path / "estate.backup"))
    assert done.returncode == 0, done.stderr

    asyncio.run(seed(database_url, ["guard-c"], range(101, 151)))   # life goes on, then a disaster
    assert asyncio.run(snapshot(database_url)) != before

    refused = cli(database_url, "restore", str(tmp_path / "estate.backup"))
    assert refused.returncode == 2 and "--yes" in refused.stderr, "restore asks before replacing everything"
    done = cli(database_url, "restore", str(tmp_path / "estate.backup"), "--yes")
    assert done.returncode == 0, done.stderr
    assert asyncio.run(snapshot(database_url)) == before


def test_restoring_something_that_is_not_a_backup_changes_nothing(database_url, tmp_path):
    asyncio.run(seed(database_url, ["guard-a"], range(1, 11)))
    before = asyncio.run(snapshot(database_url))
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a backup")
    done = cli(database_url, "restore", str(bogus), "--yes")
    assert done.returncode == 1 and "neither a SQLite backup nor a pg_dump" in done.stderr
    assert asyncio.run(snapshot(database_url)) == before
