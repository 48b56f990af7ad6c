"""Fixtures for the real parts: Mosquitto on a free port, SQLite and a fresh PostgreSQL database, processes."""
from __future__ import annotations

import pytest

from tests.support.services import Central, Mosquitto, create_pg_database, drop_pg_database


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
