"""Fixtures for tests that use central's database in process: a migrated engine on the test's database (SQLite or
a fresh PostgreSQL one, from the `database_url` fixture), and a data key for the registry's encrypted fields.

Migrating an empty database costs one to two seconds, and some 400 tests want one, so each test process migrates
one template per database kind and every test gets a copy of it (a file copy; `CREATE DATABASE ... TEMPLATE`).
Migrating from empty is still exercised: every central process a test starts migrates its own empty database, and
the migration tests go down and up again.

A conftest.py imports the ones its tests need; `data_key` is autouse wherever it is imported."""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from central.db import create_engine, migrate
from central.registry.identity import KEY_ENV
from tests.support.services import PG_ADMIN_DSN, pg_admin

SQLITE_PREFIX = "sqlite:///"


class MigratedTemplates:
    """One migrated database of each kind for this test process, made when first asked for and copied per test."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sqlite: Path | None = None
        self._postgresql: str | None = None

    async def copy_into(self, url: str) -> None:
        """Make the empty database at `url` (as the `database_url` fixture made it) a migrated one."""
        if url.startswith(SQLITE_PREFIX):
            await self._copy_sqlite(Path(url.removeprefix(SQLITE_PREFIX)))
        else:
            await self._copy_postgresql(url.rsplit("/", 1)[1])

    async def _copy_sqlite(self, target: Path) -> None:
        if self._sqlite is None:
            template = self._directory / "template.sqlite"
            await migrate(SQLITE_PREFIX + str(template))
            self._sqlite = template
        if target.exists() and target.stat().st_size:
            raise RuntimeError(f"{target} already holds a database: the engine fixture copies into an empty one")
        with contextlib.closing(sqlite3.connect(self._sqlite)) as source, \
                contextlib.closing(sqlite3.connect(target)) as copy:
            source.backup(copy)

    async def _copy_postgresql(self, name: str) -> None:
        if self._postgresql is None:
            template = f"estatelink_template_{uuid.uuid4().hex[:12]}"
            await asyncio.to_thread(pg_admin, f'CREATE DATABASE "{template}"')
            await migrate(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{template}")  # disposes its engine: no session left
            self._postgresql = template
        await asyncio.to_thread(pg_admin, f'DROP DATABASE "{name}" WITH (FORCE)',
                                f'CREATE DATABASE "{name}" TEMPLATE "{self._postgresql}"')

    def drop(self) -> None:
        if self._postgresql is not None:
            pg_admin(f'DROP DATABASE IF EXISTS "{self._postgresql}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory):
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.drop()


@pytest.fixture(autouse=True)
def data_key(monkeypatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, key)
    return key


@pytest.fixture
async def engine(database_url, migrated_templates):
    await migrated_templates.copy_into(database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
