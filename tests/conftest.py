"""Fixtures for the real parts: Mosquitto on a free port, SQLite and a fresh PostgreSQL database, processes."""
from __future__ import annotations

import argon2
import pytest

from central.auth import passwords

from tests.support import database
from tests.support.services import Central, Mosquitto, create_pg_database, drop_pg_database

migrated_templates = database.migrated_templates
"""A migrated database of each kind per test process, for the `engine` fixture of the conftests that import it."""


@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'central.sqlite'}"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def central(tmp_path, mosquitto, database_url):
    process = Central(tmp_path, database_url, mosquitto.url)
    process.start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def cheap_password_hashing(request, monkeypatch):
    """In-process tests hash their role accounts' passwords with argon2's cheapest Argon2id parameters (0.1 s a
    password otherwise, ten accounts a route test); central processes, and tests marked `production_kdf`, keep
    the real ones (tests/auth/test_passwords.py checks them)."""
    if request.node.get_closest_marker("production_kdf") is None:
        monkeypatch.setattr(passwords, "_HASHER", argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST))
