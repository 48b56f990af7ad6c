"""Import/export tests run on a migrated SQLite file and on a fresh PostgreSQL database, with a data key per test."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from central.db import create_engine, migrate
from central.registry import estates
from central.registry.identity import KEY_ENV
from tests.transfer.files import OFFICE


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


@pytest.fixture
async def estate(engine) -> str:
    """Estate 'demo' with buildings 1..20, empty otherwise."""
    async with engine.begin() as conn:
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="demo", name="Demo Gardens 演示花园"))
        for code in range(1, 21):
            await estates.create_building(conn, OFFICE, "demo", estates.BuildingCreate(code=str(code), floors=30))
    return "demo"
