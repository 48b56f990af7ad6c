"""Fixtures for tests that use central's database in process: a migrated engine on the test's database (SQLite or
a fresh PostgreSQL one, from the `database_url` fixture), and a data key for the registry's encrypted fields.

A conftest.py imports the ones its tests need; `data_key` is autouse wherever it is imported."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from central.db import create_engine, migrate
from central.registry.identity import KEY_ENV


@pytest.fixture(autouse=True)
def data_key(monkeypatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, key)
    return key


@pytest.fixture
async def engine(database_url):
    await migrate(database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
