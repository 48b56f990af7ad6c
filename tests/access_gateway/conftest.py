"""Fixtures for the access tests: the door rig on a real Mosquitto, and central (when a test needs it) on SQLite."""
from __future__ import annotations

import pytest

from tests.access_gateway.support import CentralStandIn, DoorRig, seed_cache


@pytest.fixture
def database_url(tmp_path):
    """Central on SQLite only: these tests are about the gateway, central's PostgreSQL runs are elsewhere."""
    yield f"sqlite:///{tmp_path / 'central.sqlite'}"


@pytest.fixture
def stand_in(mosquitto):
    central = CentralStandIn(mosquitto.port)
    yield central
    central.close()


@pytest.fixture
def rig(tmp_path, mosquitto, stand_in):
    """A running gateway with a seeded credential cache, its readers, its I/O module and central's stand-in."""
    seed_cache(tmp_path / "access.sqlite")
    door = DoorRig(tmp_path, mosquitto.url, central=stand_in, held_open_s=2.0)
    try:
        door.start()
        yield door
    finally:
        door.close()
