"""Import/export tests run on a migrated SQLite file and on a fresh PostgreSQL database, with a data key per test."""
from __future__ import annotations

import pytest

from central.registry import estates
from tests.support import database
from tests.transfer.files import OFFICE

data_key = database.data_key
engine = database.engine


@pytest.fixture
async def estate(engine) -> str:
    """Estate 'demo' with buildings 1..20, empty otherwise."""
    async with engine.begin() as conn:
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="demo", name="Demo Gardens 演示花园"))
        for code in range(1, 21):
            await estates.create_building(conn, OFFICE, "demo", estates.BuildingCreate(code=str(code), floors=30))
    return "demo"
